"""Time for the sync engine, injectable so tests advance it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, naive UTC (as the state store keeps it)."""

    def sleep(self, seconds: float) -> None:
        """Wait; a manual clock only moves its time forward."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to: `sleep` and `advance` add to its time."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime(2024, 6, 1, 12, 0, 0)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
