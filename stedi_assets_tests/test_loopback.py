"""Nothing the project starts listens beyond this machine: a run's Spark (its UI, driver and
block manager), `stedi sql`'s and `stedi connect-server`'s accept connections on loopback only.
Read from the kernel's table of listening sockets, by process."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stedi_assets.tools.cli import materialize_command
from stedi_assets.tools.shared_spark import TOKEN_VARIABLE, new_token
from stedi_assets_tests.lakes import dagster_home, free_port, lake_with

pytestmark = pytest.mark.slow  # starts processes

LISTEN = "0A"
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp or tcp6 (little-endian words) as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return ".".join(str(byte) for byte in words)
    if words[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(byte) for byte in words[12:])
    groups = [words[i : i + 2].hex() for i in range(0, 16, 2)]
    compact = ":".join(group.lstrip("0") or "0" for group in groups)
    return {"0:0:0:0:0:0:0:0": "::", "0:0:0:0:0:0:0:1": "::1"}.get(compact, compact)


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo += children.get(current, [])
    return found


def listening(pids: set[int]) -> set[tuple[str, int]]:
    """The (address, port) every TCP socket of `pids` listens on."""
    inodes = set()
    for pid in pids:
        with_fds = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fd) for fd in with_fds.iterdir()]
        except OSError:
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                address, port = fields[1].split(":")
                found.add((_address(address), int(port, 16)))
    return found


def sockets_while_running(process: subprocess.Popen, at_least: int) -> set[tuple[str, int]]:
    """What `process` and its children listen on once they listen on `at_least` sockets (the
    JVM opens them one after the other); fails if it exits first."""
    deadline = time.monotonic() + 300
    found: set[tuple[str, int]] = set()
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        found = listening(descendants(process.pid))
        if len(found) >= at_least:
            return found
        time.sleep(0.2)  # polling the kernel's table: the JVM gives no other signal
    raise TimeoutError(f"only {found} after 300 s")


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(timeout=60)


def start(
    command: list[str], stopped: list[subprocess.Popen], **environment: str
) -> subprocess.Popen:
    environment = {**os.environ, "STEDI_SPARK_MASTER": "local[1]", **environment}
    environment.pop("STEDI_SPARK_REMOTE", None)
    environment.pop("SPARK_LOCAL_IP", None)
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stopped.append(process)
    return process


def assert_loopback(found: set[tuple[str, int]]) -> None:
    assert found and all(address in LOOPBACK for address, _ in found), found


def test_stedi_sql_listens_on_loopback_only(stopped: list[subprocess.Popen]) -> None:
    """Its Spark UI, driver and block manager (a query that sleeps keeps them up)."""
    sleep = "select reflect('java.lang.Thread', 'sleep', cast(600000 as bigint))"
    sql = start([sys.executable, "-m", "stedi_assets", "sql", sleep], stopped)
    assert_loopback(sockets_while_running(sql, at_least=4))


def test_a_run_listens_on_loopback_only(
    stopped: list[subprocess.Popen], generated_landing: Path, tmp_path: Path
) -> None:
    lake = lake_with(generated_landing, tmp_path / "lake")
    home = dagster_home(tmp_path / "home")
    run = start(materialize_command(), stopped, STEDI_LAKE=str(lake), DAGSTER_HOME=str(home))
    assert_loopback(sockets_while_running(run, at_least=4))


def test_stedi_connect_server_listens_on_loopback_only(stopped: list[subprocess.Popen]) -> None:
    port = free_port()
    server = start(
        [sys.executable, "-m", "stedi_assets", "connect-server", "--port", str(port)],
        stopped,
        **{TOKEN_VARIABLE: new_token()},
    )
    found = sockets_while_running(server, at_least=3)
    assert port in {listened for _, listened in found}
    assert_loopback(found)
