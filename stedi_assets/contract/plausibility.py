"""Values that parse but cannot be real: the plausible range of each measured field.

A reading dated 1970 or next year, a phone acceleration beyond what the sensor can report, or a
negative distance parses as a valid number, but training a model on it would be wrong. Such a
line is quarantined with a reason naming the field, its value and the range. The ranges are
configuration (`LakeResource`, from `STEDI_*` environment variables; docs/operations.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

TIME = "time"
ACCELERATION = "acceleration"
DISTANCE = "distance"

DEFAULT_EARLIEST_TIME = "2015-01-01"
DEFAULT_MAX_FUTURE_HOURS = 24
DEFAULT_MAX_ACCELERATION = 16.0
DEFAULT_MAX_DISTANCE = 10_000


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PlausibleRanges:
    """Inclusive ranges: times in epoch milliseconds, acceleration as the data's unit (g)."""

    earliest_time_ms: int
    latest_time_ms: int
    max_acceleration: float
    max_distance: int

    @classmethod
    def as_of(
        cls,
        now_ms: int | None = None,
        earliest_time: str = DEFAULT_EARLIEST_TIME,
        max_future_hours: int = DEFAULT_MAX_FUTURE_HOURS,
        max_acceleration: float = DEFAULT_MAX_ACCELERATION,
        max_distance: int = DEFAULT_MAX_DISTANCE,
    ) -> PlausibleRanges:
        """Ranges for a run at `now_ms` (now by default): times from `earliest_time` (an ISO
        date, UTC) up to `max_future_hours` after now, allowing for devices' clock drift."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        try:
            earliest_day = date.fromisoformat(earliest_time)
        except ValueError:
            raise ValueError(
                f"earliest time {earliest_time!r} is not an ISO date such as 2015-01-01"
            ) from None
        earliest = datetime.combine(earliest_day, datetime.min.time(), UTC)
        return cls(
            earliest_time_ms=int(earliest.timestamp() * 1000),
            latest_time_ms=now_ms + max_future_hours * 3_600_000,
            max_acceleration=max_acceleration,
            max_distance=max_distance,
        )

    def bounds(self, measure: str) -> tuple[float, float, str]:
        """(lowest, highest, how the range reads in a quarantine reason) of a measure."""
        if measure == TIME:
            return (
                self.earliest_time_ms,
                self.latest_time_ms,
                f"a time from {_iso(self.earliest_time_ms)} to {_iso(self.latest_time_ms)}",
            )
        if measure == ACCELERATION:
            limit = self.max_acceleration
            return -limit, limit, f"an acceleration from -{limit:g} to {limit:g}"
        if measure == DISTANCE:
            return 0, self.max_distance, f"a distance from 0 to {self.max_distance}"
        raise ValueError(f"no plausible range for measure {measure!r}")
