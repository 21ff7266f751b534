"""One Spark Connect server on loopback that every run of a session shares (`stedi ui`).

A run that starts its own Spark pays for a JVM's start and warm-up each time (about half of a
small run); runs that are clients of a server that is already up do not. This module starts
the server (`stedi connect-server` in a process of its own) or uses one already listening, and
stops only what it started.

A server runs code and reads every table for whoever connects, so it authenticates its clients
with a secret token (Spark Connect's `SPARK_CONNECT_AUTHENTICATE_TOKEN`): a fresh one for each
server started here, unless the environment sets one. Clients get it through their environment
only (never a URL, a config or a log). A server already listening is used only if it accepts
the token: one another account started cannot receive this session's runs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_SECONDS = 180
"""How long a starting server may take to listen (its JVM and jars; 10-20 s here)."""
TOKEN_VARIABLE = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
"""Where the Spark Connect server and its clients (PySpark) read the shared token."""
NOT_FOR_THE_SERVER = ("STEDI_ERASURE_SALT",)
"""Secrets a server does not need: its clients send what they compute with them as data."""


def endpoint(port: int) -> str:
    """The URL a client of a server on this machine uses. `localhost`, not 127.0.0.1: PySpark
    sends a token over a plain channel to `localhost` only (anywhere else it requires TLS)."""
    return f"sc://localhost:{port}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


class ServerRefused(Exception):
    """A server listens on the port, but does not accept this session's token."""


@dataclass(frozen=True)
class SharedServer:
    endpoint: str
    pid: int | None
    """The server started here (None: one already listening was used)."""
    token: str


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


PROBE_SECONDS = 60
_PROBE = """
import sys
from pyspark.sql import SparkSession
session = SparkSession.builder.remote(sys.argv[1]).create()
sys.exit(0 if session.range(1).count() == 1 else 1)
"""


def speaks_grpc(port: int, timeout_seconds: float = 5) -> bool:
    """Whether what listens on `port` completes a gRPC (HTTP/2) handshake."""
    import grpc

    with grpc.insecure_channel(f"localhost:{port}") as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout_seconds)
        except grpc.FutureTimeoutError:
            return False
    return True


def accepts(url: str, token: str) -> bool:
    """Whether the Spark Connect server at `url` answers a query sent with `token`. Asked in a
    process of its own, bounded in time (the client retries an unavailable server for minutes),
    and only of something that speaks gRPC."""
    port = int(url.rsplit(":", 1)[1])
    if not speaks_grpc(port):
        return False
    environment = {**os.environ, TOKEN_VARIABLE: token}  # not in the command line: `ps` shows it
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, url],
            env=environment,
            capture_output=True,
            timeout=PROBE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def server_environment(environment: Mapping[str, str], token: str) -> dict[str, str]:
    """What a server started here gets: the environment with the token, without the secrets it
    does not need."""
    kept = {key: value for key, value in environment.items() if key not in NOT_FOR_THE_SERVER}
    return {**kept, TOKEN_VARIABLE: token}


@contextlib.contextmanager
def connect_server(
    port: int, log_path: Path, environment: Mapping[str, str] | None = None
) -> Iterator[SharedServer]:
    """A Spark Connect endpoint on `port`: the server already listening there, if it accepts the
    token (the environment's, `SPARK_CONNECT_AUTHENTICATE_TOKEN`), or one started now with a
    token (the environment's, else a new one), its output in `log_path`, stopped on leaving."""
    environment = dict(os.environ if environment is None else environment)
    token = environment.get(TOKEN_VARIABLE) or new_token()
    url = endpoint(port)
    if answers(port):
        if not accepts(url, token):
            raise ServerRefused(
                f"Something already listens on port {port} and does not accept this session's "
                f"token: stop it, choose another port, or set {TOKEN_VARIABLE} to the token of "
                "the server you mean to use."
            )
        yield SharedServer(url, None, token)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "stedi_assets", "connect-server", "--port", str(port)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command,
            env=server_environment(environment, token),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(server, port, log_path)
        yield SharedServer(url, server.pid, token)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
