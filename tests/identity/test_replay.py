"""The compiled rules' calendar periods agree with the reference's (graph.period_bucket)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from engagectl.identity.graph import period_bucket
from engagectl.identity.replay import PERIODS, _bucket

EPOCH = datetime(1970, 1, 1)


@pytest.mark.parametrize("period", [p for p in PERIODS if p != "ever"])
def test_two_moments_share_a_compiled_bucket_exactly_when_they_share_a_calendar_period(period):
    rng = random.Random(period)
    # Around month, year and ISO-week edges, leap days included, before and after 1970.
    edges = [datetime(year, month, 1) for year in (1968, 1999, 2000, 2024, 2025) for month in (1, 2, 3, 12)]
    edges += [datetime(2024, 2, 29), datetime(2020, 12, 28), datetime(2021, 1, 4)]
    moments = [edge + timedelta(microseconds=rng.randrange(-3 * 86_400_000_000, 3 * 86_400_000_000))
               for edge in edges for _ in range(40)]
    code = PERIODS.index(period)
    compiled = {m: _bucket(code, (m - EPOCH) // timedelta(microseconds=1)) for m in moments}
    for a, b in zip(moments, moments[1:] + moments[:1], strict=True):
        assert (compiled[a] == compiled[b]) == (period_bucket(period, a) == period_bucket(period, b)), (a, b)
    distinct = {period_bucket(period, m) for m in moments}
    assert len({compiled[m] for m in moments}) == len(distinct)
