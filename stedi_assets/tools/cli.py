"""`stedi`: one command for everything the package offers (also `python -m stedi_assets`).

    stedi sample-data --customers 1000 --out lake   # realistic landing data, every fault in it
    stedi materialize [--select SEL] [--full-refresh]  # one line per asset as it ends
    stedi status                                    # each table, and what a run would do now
    stedi quarantine [SOURCE]                       # quarantined lines by reason, masked
    stedi summary                                   # what the last run of each table produced
    stedi sql "select count(*) from customer_trusted"
    stedi erase ann@example.com [--vacuum-now]      # erase a customer from every zone
    stedi demo-s3                                   # the demo on a local S3-compatible server
    stedi ui                                        # the Dagster UI, its runs on a warm Spark

Each subcommand imports what it needs when it runs, so `stedi --help` and `stedi sample-data`
start without Dagster or Spark. Settings come from the environment (docs/operations.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from stedi_assets import settings


class UsageError(Exception):
    """A wrong argument or setting: printed as the command's error, without a traceback."""


def materialize_command(selection: str = "*") -> list[str]:
    """`dg launch -m stedi_assets --assets SELECTION` with this environment's `dg` (Dagster's
    supported command; `dagster asset materialize` is superseded): the selected assets (every
    one by default), with their checks, in one run."""
    dg = Path(sys.executable).parent / "dg"
    return [str(dg), "launch", "-m", "stedi_assets", "--assets", selection]


def _sample_data(args: argparse.Namespace) -> int:
    from stedi_assets.tools.sample_data import format_summary, write_sample_landing

    if "://" in args.out:
        raise UsageError(f"--out must be a local folder, not {args.out!r}")
    try:
        summary = write_sample_landing(
            Path(args.out),
            args.customers,
            args.seed,
            args.readings_per_customer,
            int(args.max_file_mb * 2**20),
            args.files_per_source,
        )
    except ValueError as error:  # an argument out of range, named in the message
        raise UsageError(str(error)) from None
    print(format_summary(summary, args.out))
    return 0


def _materialize(args: argparse.Namespace) -> int:
    from stedi_assets.tools.progress import materialize_with_progress

    if not settings.is_set("DAGSTER_HOME"):
        raise UsageError(
            "set DAGSTER_HOME to the Dagster instance's folder, which records the run (make "
            "sets it to .dagster_home); or run `dg launch -m stedi_assets --assets '*'` "
            "without it"
        )
    log = Path(args.log or Path(settings.dagster_home()) / "materialize.log")
    if args.full_refresh:
        os.environ["STEDI_FULL_REFRESH"] = "1"  # the run's environment: every table rebuilt
    return materialize_with_progress(materialize_command(args.select), log)


def _status(args: argparse.Namespace) -> int:
    import time

    from stedi_assets.storage.landing_store import landing_store
    from stedi_assets.tools.status import format_status, lake_status

    lake = _resolved_lake()
    store = landing_store(lake.layout, _s3_client)
    print("\n".join(format_status(lake_status(lake, store, int(time.time() * 1000)))))
    return 0


def _resolved_lake():
    """The lake resource with the environment's values themselves (not `EnvVar`s)."""
    from stedi_assets.orchestration.resources import LakeResource

    return LakeResource(
        root=settings.lake_root(),
        consent_policy=settings.consent_policy(),
        erasure_salt=settings.erasure_salt(),
        full_refresh=settings.full_refresh(),
        increment_min_rows=settings.increment_min_rows(),
        reading_increments_at_any_size=settings.reading_increments_at_any_size(),
        **settings.plausibility_overrides(),
    )


def _s3_client():
    import boto3

    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint(), region_name=settings.aws_region()
    )


def _quarantine(args: argparse.Namespace) -> int:
    from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
    from stedi_assets.storage.lake import LakeLayout
    from stedi_assets.storage.spark import local_spark_session
    from stedi_assets.tools.quarantine import quarantine_report

    sources = [args.source] if args.source else list(LANDING_SOURCES_BY_NAME)
    spark = local_spark_session()
    try:
        report = quarantine_report(
            spark,
            LakeLayout(settings.lake_root()),
            sources,
            args.reason,
            args.limit,
            args.show_personal,
        )
    finally:
        spark.stop()
    print("\n".join(report))
    return 0


def _summary(args: argparse.Namespace) -> int:
    import dagster as dg

    from stedi_assets.tools.summary import summarize

    with dg.DagsterInstance.get() as instance:
        lines, healthy = summarize(instance)
    print("\n".join(lines))
    if not healthy:
        print(
            "Some tables are missing or failed a blocking check: see above and `make ui`.",
            file=sys.stderr,
        )
    return 0 if healthy else 1


def _sql(args: argparse.Namespace) -> int:
    from stedi_assets.storage.lake import LakeLayout
    from stedi_assets.storage.spark import local_spark_session
    from stedi_assets.tools.sql import WritingQuery, read_only, run_query

    if not args.write:
        try:
            read_only(args.query)
        except WritingQuery as error:  # before a Spark starts
            raise UsageError(str(error)) from None
    spark = local_spark_session()
    try:
        run_query(spark, LakeLayout(settings.lake_root()), args.query, args.write).show(
            args.limit, truncate=False
        )
    finally:
        spark.stop()
    return 0


def _erase(args: argparse.Namespace) -> int:
    from stedi_assets.erasure.matching import email_hash
    from stedi_assets.tools.erasure_requests import ErasureRefused, erase

    try:
        hashed = email_hash(args.email, settings.erasure_salt() or "")
    except ValueError as error:  # no salt, or not an email
        raise UsageError(str(error)) from None
    if args.print_hash:
        print(hashed)
        return 0
    try:
        # The email itself goes nowhere: the run's config holds its salted hash.
        if not erase(hashed, args.vacuum_now, settings.is_set("DAGSTER_HOME")):
            return 1
    except ErasureRefused as error:
        raise UsageError(str(error)) from None
    print(f"Erased customer {hashed[:12]}… (see the erasure log and the run's metadata)")
    return 0


def _connect_server(args: argparse.Namespace) -> int:
    from stedi_assets.storage.spark import connect_server_command
    from stedi_assets.tools.shared_spark import TOKEN_VARIABLE, endpoint, server_environment

    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise UsageError(
            f"set {TOKEN_VARIABLE} to a secret its clients share (for example `export "
            f"{TOKEN_VARIABLE}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`"
            "): the server runs code and reads every table for whoever connects"
        )
    command, environment = connect_server_command(args.port)
    print(
        f"Spark Connect server on {endpoint(args.port)}, for clients with {TOKEN_VARIABLE} "
        "(Ctrl-C stops it)",
        flush=True,
    )
    os.execve(command[0], command, {**server_environment(os.environ, token), **environment})
    return 0  # not reached: the server replaces this process


def _ui(args: argparse.Namespace) -> int:
    import signal
    import subprocess
    import tempfile

    from stedi_assets.tools.shared_spark import TOKEN_VARIABLE, ServerRefused, connect_server

    dg_dev = [str(Path(sys.executable).parent / "dg"), "dev", "-h", args.host, "-p", str(args.port)]

    def serve(environment: dict[str, str]) -> int:
        ui = subprocess.Popen(dg_dev, cwd=settings.PROJECT_ROOT, env=environment)
        # `kill` (SIGTERM) stops the UI as Ctrl-C does, and then the server it started.
        signal.signal(signal.SIGTERM, lambda number, _: ui.send_signal(number))
        try:
            return ui.wait()
        except KeyboardInterrupt:  # the UI got the terminal's Ctrl-C too, and shuts down
            return ui.wait()

    if settings.spark_remote() or args.local_spark:
        return serve(dict(os.environ))
    log = Path(settings.dagster_home() or tempfile.gettempdir()) / "connect-server.log"
    try:
        with connect_server(args.spark_port, log) as server:
            how = f"started, log in {log}" if server.pid else "already running"
            print(f"Runs use the Spark Connect server at {server.endpoint} ({how})", flush=True)
            # The runs get the token through their environment: never the UI or a config.
            return serve(
                {**os.environ, "STEDI_SPARK_REMOTE": server.endpoint, TOKEN_VARIABLE: server.token}
            )
    except ServerRefused as error:
        raise UsageError(str(error)) from None


def _demo_s3(args: argparse.Namespace) -> int:
    from stedi_assets.tools.demo_s3 import run_demo

    run_demo(args.customers, args.seed, materialize_command())
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stedi_assets")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="stedi",
        description="STEDI lakehouse: landing JSON to trusted and curated Delta tables.",
    )
    command.add_argument("--version", action="version", version=f"stedi {_version()}")
    commands = command.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, run: Callable[[argparse.Namespace], int], summary: str, details: str):
        sub = commands.add_parser(name, help=summary, description=f"{summary}. {details}")
        sub.set_defaults(run=run)
        return sub

    sample = add(
        "sample-data",
        _sample_data,
        "write realistic sample landing data",
        "Customer, accelerometer and step-trainer JSON lines under OUT/<source>/landing/, with "
        "every fault of the data contract injected in seed-dependent amounts; the same "
        "arguments always write byte-identical files.",
    )
    sample.add_argument(
        "--customers", type=int, default=1000, help="number of customers (default 1000, min 20)"
    )
    sample.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    sample.add_argument(
        "--out",
        default=None,
        help="lake root, a local folder (default: $STEDI_LAKE, else ./lake)",
    )
    sample.add_argument(
        "--readings-per-customer",
        type=int,
        default=85,
        help="average accelerometer readings per customer (default 85)",
    )
    sample.add_argument(
        "--max-file-mb", type=float, default=64, help="largest landing file in MiB (default 64)"
    )
    sample.add_argument(
        "--files-per-source",
        type=int,
        default=4,
        help="files each source's lines are spread over, more where --max-file-mb needs "
        "(default 4); a redelivered copy of one of them is added",
    )

    materialize = add(
        "materialize",
        _materialize,
        "materialize the assets, one line per asset as it finishes",
        "The lake at $STEDI_LAKE, with every check (`dg launch -m stedi_assets --assets '*'`); "
        "tables whose inputs did not change are reused. Dagster's full event log goes to a "
        "file.",
    )
    materialize.add_argument(
        "--select",
        default="*",
        help="the assets, in Dagster's selection syntax (default '*': every asset; e.g. "
        "'customer_trusted+' for it and everything downstream)",
    )
    materialize.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the selected tables from their landing files, even if nothing changed",
    )
    materialize.add_argument(
        "--log", help="where Dagster's event log goes (default $DAGSTER_HOME/materialize.log)"
    )

    add(
        "status",
        _status,
        "show each zone table's version and what the next run would do with it, and why",
        "Reads the tables' Delta logs and lists the landing folders of $STEDI_LAKE (a folder "
        "or S3), as a run would: no Spark. The next run reuses a table when nothing it is "
        "built from changed, increments it when files were only added, else rebuilds it.",
    )

    quarantine = add(
        "quarantine",
        _quarantine,
        "count the quarantined landing lines by reason, with example lines",
        "From the quarantine tables of $STEDI_LAKE; personal fields (names, emails, phones, "
        "birthdays, serial numbers) are masked in the examples unless --show-personal.",
    )
    quarantine.add_argument(
        "source",
        nargs="?",
        choices=["customer", "accelerometer", "step_trainer"],
        help="one landing source (default: all three)",
    )
    quarantine.add_argument("--reason", help="only reasons that contain this text")
    quarantine.add_argument(
        "--limit", type=int, default=3, help="example lines per reason (default 3)"
    )
    quarantine.add_argument(
        "--show-personal", action="store_true", help="show the example lines unmasked"
    )

    add(
        "summary",
        _summary,
        "print what the last run of each zone table produced",
        "Rows, checks and quarantined lines, from the Dagster instance at $DAGSTER_HOME; exits "
        "1 when a table is missing or failed a blocking check.",
    )

    sql = add(
        "sql",
        _sql,
        "run Spark SQL over the lake, read-only",
        "The lake at $STEDI_LAKE: zone and quarantine tables by asset name (Delta), landing "
        "folders as `<source>_landing` (JSON, unvalidated). Queries only, unless --write.",
    )
    sql.add_argument("query", help='e.g. "select count(*) from customer_trusted"')
    sql.add_argument(
        "--write",
        action="store_true",
        help="allow statements that change the lake (INSERT, DELETE, …); read-only otherwise",
    )
    sql.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")

    erase = add(
        "erase",
        _erase,
        "erase a customer from every zone of the lake",
        "Needs $STEDI_ERASURE_SALT. Landing lines and table rows go now, old table versions "
        "after the history retention (or at once with --vacuum-now). When a daemon serves the "
        "run queue of $DAGSTER_HOME (`make ui`), the erasure waits its turn there; otherwise "
        "it runs in this process once no recorded run is unfinished.",
    )
    erase.add_argument("email")
    erase.add_argument(
        "--vacuum-now",
        action="store_true",
        help="delete old table versions at once, not after the history retention",
    )
    erase.add_argument(
        "--print-hash", action="store_true", help="only print the email's salted hash"
    )

    server = add(
        "connect-server",
        _connect_server,
        "run a Spark Connect server that runs can share",
        "On loopback, with the project's jars and Delta's extensions; runs use it when "
        "STEDI_SPARK_REMOTE=sc://localhost:PORT, so none starts a Spark of its own. Needs "
        "SPARK_CONNECT_AUTHENTICATE_TOKEN, a secret its clients share.",
    )
    server.add_argument(
        "--port",
        type=int,
        default=settings.DEFAULT_CONNECT_PORT,
        help=f"port (default {settings.DEFAULT_CONNECT_PORT})",
    )

    ui = add(
        "ui",
        _ui,
        "the Dagster UI (`dg dev`), its runs on one warm Spark",
        "Starts a Spark Connect server on loopback (or uses the one listening on --spark-port) "
        "and points every run the UI, the sensor or a schedule launches at it, so no run "
        "starts a JVM of its own; a server it started stops with the UI. With "
        "STEDI_SPARK_REMOTE set, runs use that endpoint instead.",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    ui.add_argument(
        "--spark-port",
        type=int,
        default=settings.DEFAULT_CONNECT_PORT,
        help=f"the Spark Connect server's port (default {settings.DEFAULT_CONNECT_PORT})",
    )
    ui.add_argument(
        "--local-spark",
        action="store_true",
        help="no shared server: each run starts a Spark of its own",
    )

    demo = add(
        "demo-s3",
        _demo_s3,
        "the demo on a local S3-compatible server, with the Glue catalog",
        "No AWS account needed: moto (a dev package) serves S3 and Glue on loopback, sample "
        "landing data is uploaded and every asset materialized.",
    )
    demo.add_argument("--customers", type=int, default=1000, help="number of customers")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    return command


def main(argv: list[str] | None = None) -> None:
    from stedi_assets.storage.hardening import private_process

    command = parser()
    args = command.parse_args(argv)
    private_process()  # the lake, the instance and the servers' files: the owner's alone
    if getattr(args, "out", "") is None:
        args.out = settings.lake_root()
    try:
        code = args.run(args)
    except UsageError as error:
        command.exit(2, f"stedi {args.command}: error: {error}\n")
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
