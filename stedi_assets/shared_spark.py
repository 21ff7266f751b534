"""One Spark Connect server on loopback that every run of a session shares (`stedi ui`).

A run that starts its own Spark pays for a JVM's start and warm-up each time (about half of a
small run); runs that are clients of a server that is already up do not. This module starts
the server (`stedi connect-server` in a process of its own) or finds one already listening,
and stops only what it started.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

START_TIMEOUT_SECONDS = 180
"""How long a starting server may take to listen (its JVM and jars; 10-20 s here)."""


def answers(port: int) -> bool:
    """Whether something accepts connections on `port` on loopback."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def _wait_until_listening(server: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not answers(port):
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(
                f"The Spark Connect server exited with {server.returncode} before listening on "
                f"port {port}; the end of {log_path}:\n" + "\n".join(tail)
            )
        if time.monotonic() > deadline:
            server.terminate()
            raise TimeoutError(
                f"The Spark Connect server did not listen on port {port} within "
                f"{START_TIMEOUT_SECONDS} s; see {log_path}"
            )
        time.sleep(0.5)  # polling the port: the server gives no other signal that it is up


@contextlib.contextmanager
def connect_server(
    port: int, log_path: Path, environment: Mapping[str, str] | None = None
) -> Iterator[tuple[str, int | None]]:
    """A Spark Connect endpoint on `port`: the server already listening there, or one started
    now (its output in `log_path`) and stopped on leaving. Yields the endpoint's URL and the
    started server's process id (None when one was already listening)."""
    endpoint = f"sc://127.0.0.1:{port}"
    if answers(port):
        yield endpoint, None
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "stedi_assets", "connect-server", "--port", str(port)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(server, port, log_path)
        yield endpoint, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
