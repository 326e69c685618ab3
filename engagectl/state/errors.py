"""Errors the state store raises; each message says what to do next."""

from __future__ import annotations

from engagectl.diagnostics import EngageError
from engagectl.state.records import LockInfo


class StateLocked(EngageError):
    """Another writer held the lock for longer than we were willing to wait."""

    def __init__(self, holder: LockInfo, waited: float):
        super().__init__(
            f"the state is locked by {holder.describe()}; waited {waited:g}s. "
            f"Try again later, raise --lock-timeout, or, if no engagectl process is running, "
            f"release it with `engagectl state unlock {holder.id}`"
        )
        self.holder = holder


class LockNotFound(EngageError):
    def __init__(self, lock_id: str):
        super().__init__(f"no state lock with id {lock_id} (see the lock id in the error that named the holder)")
        self.lock_id = lock_id


class StalePlan(EngageError):
    """The state moved on since the plan was made: its changes no longer describe the truth."""


class StateNotFound(EngageError):
    """A resource asked for by key or address is not in the state."""


class StateUnavailable(EngageError):
    """The state database cannot be reached or set up (wrong URL, server down, no permission)."""
