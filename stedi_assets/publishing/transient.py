"""Which failures a retry can fix: storage or a Spark server that did not answer for a while.

A step that fails for such a reason asks Dagster to run it again (`dg.RetryRequested`), after a
pause, a bounded number of times; anything else fails the step at once. A failed check is not
retried: the same rows would fail it again. Each retry starts the step over, and the step then
reuses, increments or rebuilds as the lake is at that moment (a write the failure cut short left
no commit, or a commit the next attempt sees).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dagster as dg

STEP_RETRIES = 2
SECONDS_BETWEEN_RETRIES = 10
TRANSIENT_SIGNS = (
    "java.net.ConnectException",
    "java.net.SocketTimeoutException",
    "java.net.UnknownHostException",
    "java.net.NoRouteToHostException",
    "Connection refused",
    "Connection reset",
    "Unable to execute HTTP request",
    "SdkClientException",
    "AWSClientIOException",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "StatusCode.UNAVAILABLE",
    "failed to connect to all addresses",
)
"""What the errors of an unreachable S3 (s3a in the JVM, boto3 in Python) or Spark Connect
server say: a class or message text anywhere in the error's chain."""


def is_transient(error: BaseException) -> bool:
    """Whether `error` (or one it was raised from) is storage or a server not answering."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{type(current).__name__}: {current}"
        if isinstance(current, dg.Failure):
            return False
        if isinstance(current, (ConnectionError, TimeoutError)) or any(
            sign in text for sign in TRANSIENT_SIGNS
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def retried_when_transient() -> Iterator[None]:
    """Turn a transient failure (`is_transient`) of the code inside into a request to run the
    step again, `STEP_RETRIES` times at most, `SECONDS_BETWEEN_RETRIES` apart."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as error:
        if is_transient(error):
            raise dg.RetryRequested(STEP_RETRIES, SECONDS_BETWEEN_RETRIES) from error
        raise
