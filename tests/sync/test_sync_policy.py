"""Segment's retry policy: which answers are retried, discarded, split or pause a destination."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engagectl.sync.retry import classify_status, next_attempt, parse_retry_after


@pytest.mark.parametrize("status,expected", [
    (200, "delivered"), (204, "delivered"),
    (408, "awaiting-retry"), (429, "awaiting-retry"), (500, "awaiting-retry"), (502, "awaiting-retry"),
    (503, "awaiting-retry"), (504, "awaiting-retry"),
    (501, "discarded"), (505, "discarded"), (404, "discarded"), (410, "discarded"),
    (400, "split"), (413, "split"), (422, "split"),
    (401, "paused"), (403, "paused"),
])
def test_status_classes(status, expected):
    assert classify_status(status) == expected


def test_backoff_doubles_from_a_minute_and_gives_up_after_four_hours():
    start = now = datetime(2024, 6, 1)
    delays = []
    attempts = 1
    while (due := next_attempt(attempts, start, now)) is not None:
        delays.append((due - now).total_seconds() / 60)
        now, attempts = due, attempts + 1
    assert delays[:4] == [1, 2, 4, 8]
    assert attempts == 8  # 1 + 2 + … + 128 minutes would pass the 4 hours: about 9 attempts with jitter
    assert now - start <= timedelta(hours=4)


def test_retry_after_as_seconds_or_date():
    now = datetime(2024, 6, 1, 12, 0, 0)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Sat, 01 Jun 2024 12:01:00 GMT", now) == 60
    assert parse_retry_after("soon", now) is None
