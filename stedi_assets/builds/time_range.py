"""Reading only the earlier readings an increment's new ones can meet.

An increment matches its new readings against earlier ones by equal times (a duplicate is the
same record; a training pair, the same millisecond), so only earlier readings within the new
ones' times can match. Filtering them by that range as literals lets Delta skip every file
whose range of times, kept in the log (`delta_tables.STATS_COLUMNS`), lies outside it: readings
that arrive in time order meet none of the history.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def at_times_of(earlier: DataFrame, time: str, new: DataFrame, new_time: str) -> DataFrame:
    """The rows of `earlier` whose `time` lies within the range of `new`'s `new_time` (asked
    of `new` in one Spark job): all that an equality on the times can match. No row when
    `new` has no time (nothing can match)."""
    low, high = new.agg(F.min(new_time), F.max(new_time)).first()
    if low is None:
        return earlier.limit(0)
    return earlier.where(F.col(time).between(low, high))
