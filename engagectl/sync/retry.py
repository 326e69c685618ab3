"""Segment's retry policy: which failures are retried, and when the next attempt is due.

Randomised exponential backoff from 1 minute, doubling, for 4 hours after the first failure
(about 9 attempts); then the delivery has failed. A `Retry-After` from the destination wins.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

FIRST_DELAY = timedelta(minutes=1)
RETRY_BUDGET = timedelta(hours=4)

# Error classes, named as Segment's integration error codes name them.
RETRY = "awaiting-retry"
DISCARD = "discarded"
PAUSE = "paused"  # 401/403: credentials; the destination stops, the data stays queued
SPLIT = "split"  # the batch as a whole was refused: bisect down to the bad rows
OK = "delivered"

# 4xx are final except these; 5xx are retried except 501 and 505.
RETRYABLE_4XX = {408, 423, 429}
NOT_RETRYABLE_5XX = {501, 505}
SPLITTABLE = {400, 413, 422}


def classify_status(status: int) -> str:
    """The class of an HTTP answer, as Segment's pipeline treats it."""
    if 200 <= status < 300:
        return OK
    if status in (401, 403):
        return PAUSE
    if status in RETRYABLE_4XX or (status >= 500 and status not in NOT_RETRYABLE_5XX):
        return RETRY
    if status in SPLITTABLE:
        return SPLIT
    return DISCARD


def jitter(rng: random.Random | None = None) -> float:
    """The random factor of one backoff: ±25%."""
    return (rng or random).uniform(0.75, 1.25)


def backoff(attempts: int, factor: float = 1.0) -> timedelta:
    """Delay after the `attempts`-th failure: 1, 2, 4 … minutes, times the random factor."""
    return FIRST_DELAY * (2 ** max(attempts - 1, 0)) * factor


def next_attempt(
    attempts: int,
    first_failed_at: datetime,
    now: datetime,
    retry_after: float | None = None,
    factor: float = 1.0,
) -> datetime | None:
    """When to try again, or None when the 4-hour budget is spent (the delivery has failed)."""
    delay = timedelta(seconds=retry_after) if retry_after is not None else backoff(attempts, factor)
    due = now + delay
    if due > first_failed_at + RETRY_BUDGET:
        return None
    return due


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return max((when - now).total_seconds(), 0.0)
