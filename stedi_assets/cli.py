"""The project's commands: the documented materialization, and erasure requests.

python -m stedi_assets.cli erase EMAIL [--vacuum-now]   # erase a customer from the lake
python -m stedi_assets.cli erase EMAIL --print-hash     # the hash the UI's job config takes
"""

import argparse
import os
import sys
from pathlib import Path

import dagster as dg

from stedi_assets import settings
from stedi_assets.erasure.matching import email_hash


def materialize_all_command() -> list[str]:
    """`dagster asset materialize -m stedi_assets --select '*'` with this environment's
    `dagster`: every asset, with every check, in one run."""
    dagster = Path(sys.executable).parent / "dagster"
    return [str(dagster), "asset", "materialize", "-m", "stedi_assets", "--select", "*"]


def erase(hashed_email: str, vacuum_now: bool) -> bool:
    """Run the erasure job for one email hash, recorded in the instance at DAGSTER_HOME. The
    email itself goes nowhere: the run's config holds its salted hash."""
    from stedi_assets.definitions import defs  # Dagster and the assets: only to run the job

    config = {"email_hash": hashed_email, "vacuum_now": vacuum_now}
    run_config = {"ops": {"erase_customer": {"config": config}}}
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    job = defs().get_job_def("erase_customer_job")
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    return result.success


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stedi_assets.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    erasure = commands.add_parser("erase", help="erase a customer from every zone of the lake")
    erasure.add_argument("email")
    erasure.add_argument(
        "--vacuum-now",
        action="store_true",
        help="delete old table versions at once, not after the history retention",
    )
    erasure.add_argument(
        "--print-hash", action="store_true", help="only print the email's salted hash"
    )
    args = parser.parse_args(argv)
    try:
        hashed = email_hash(args.email, settings.erasure_salt() or "")
    except ValueError as error:
        parser.error(str(error))
    if args.print_hash:
        print(hashed)
        return
    if not erase(hashed, args.vacuum_now):
        sys.exit(1)
    print(f"Erased customer {hashed[:12]}… (see the erasure log and the run's metadata)")


if __name__ == "__main__":
    main()
