"""The state store: what has been applied, with lineage, serial, tombstones, history and locks.

`open_state(url, project_dir)` gives a `StateStore`; the planner reads a `StateSnapshot` from
it and an apply commits a `StateChangeset` under the lock.
"""

from engagectl.state.errors import (
    LockNotFound,
    StalePlan,
    StateLocked,
    StateNotFound,
    StateUnavailable,
)
from engagectl.state.records import (
    ApplyRecord,
    LockInfo,
    StateChangeset,
    StateSnapshot,
    StoredResource,
    Tombstone,
)
from engagectl.state.store import DEFAULT_LOCK_TIMEOUT, StateStore, open_state

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "ApplyRecord",
    "LockInfo",
    "LockNotFound",
    "StalePlan",
    "StateChangeset",
    "StateLocked",
    "StateNotFound",
    "StateSnapshot",
    "StateStore",
    "StateUnavailable",
    "StoredResource",
    "Tombstone",
    "open_state",
]
