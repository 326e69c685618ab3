"""The compiled kernels: calendar periods agree with the reference's (graph.period_bucket); results
go back to the warehouse in the order its rows are stored."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from engagectl.identity.graph import period_bucket
from engagectl.identity.kernels import _bucket
from engagectl.identity.replay import PERIODS, any_repeated, by_event, in_seq_order, top_nodes, tops_below

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


@pytest.mark.parametrize("gap", [1, 3, 10_000_000])  # dense seq numbers, sparse ones, and very sparse
def test_results_go_back_in_seq_order_without_the_events_that_have_none(gap):
    rng = np.random.default_rng(gap)
    seqs = (np.arange(50_000) * gap + 7)[rng.permutation(50_000)]  # the replay's (time) order
    values = rng.integers(-1, 40_000, 50_000)  # -1: no profile
    ordered, kept = in_seq_order(seqs, values)
    expected = np.argsort(seqs)
    expected = expected[values[expected] >= 0]
    assert ordered.tolist() == seqs[expected].tolist()
    assert kept.tolist() == values[expected].tolist()


@pytest.mark.parametrize("offset", [0, 2])  # observations' seq numbers counted from a watermark
@pytest.mark.parametrize("gap", [1, 10_000_000])  # dense seq numbers, and sparse ones
def test_each_event_gets_its_own_nodes_in_ascending_order_in_replay_order(gap, offset):
    rng = np.random.default_rng(gap)
    seqs = np.arange(20_000) * gap + 3
    replay_order = seqs[rng.permutation(len(seqs))]
    # Observations as the warehouse hands them over: several runs, each in seq order; some events
    # carry none, some the same node twice.
    obs_seq = np.sort(rng.choice(seqs, 50_000))
    obs_node = rng.integers(0, 5_000, len(obs_seq))
    cut = rng.permutation(len(obs_seq))[:5]
    runs = np.split(np.arange(len(obs_seq)), np.sort(cut))
    order = np.concatenate(runs[::-1])
    start, nodes = by_event(replay_order, obs_seq[order] - offset, obs_node[order], offset=offset)
    expected = {}
    for seq, node in zip(obs_seq.tolist(), obs_node.tolist(), strict=True):
        expected.setdefault(seq, []).append(node)
    assert len(start) == len(replay_order) + 1
    for rank, seq in enumerate(replay_order.tolist()):
        assert nodes[start[rank]:start[rank + 1]].tolist() == sorted(expected.get(seq, []))


@pytest.mark.parametrize("gap", [1, 10_000_000])  # dense seq numbers, and sparse ones
def test_an_events_top_node_is_its_lowest_and_none_without_identifiers(gap):
    rng = np.random.default_rng(gap)
    seqs = np.arange(5_000) * gap + 3
    obs_seq = rng.choice(seqs[:4_000], 12_000)  # the last thousand events carry no identifier
    obs_node = rng.integers(0, 3_000, len(obs_seq))
    wanted = rng.choice(seqs, 800, replace=False)
    lowest: dict[int, int] = {}
    for seq, node in zip(obs_seq.tolist(), obs_node.tolist(), strict=True):
        lowest[seq] = min(node, lowest.get(seq, node))
    assert top_nodes(obs_seq, obs_node, wanted).tolist() == [lowest.get(s, -1) for s in wanted.tolist()]


def test_an_event_is_below_a_node_number_when_its_first_node_is():
    start = np.array([0, 2, 2, 3, 5])  # four events: two nodes, none, one, two
    nodes = np.array([1, 4, 0, 3, 7])
    assert tops_below(start, nodes, 2).tolist() == [True, False, True, False]
    assert tops_below(start, nodes, 0).tolist() == [False, False, False, False]


@pytest.mark.parametrize("crowded", [False, True], ids=["spread keys", "keys sharing their top byte"])
def test_a_repeated_key_is_found_wherever_it_lies(crowded):
    # Ingest's check of a file's message ids: their hashes are unsigned, so half have the sign bit.
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2 ** 64, size=200_000, dtype=np.uint64)
    if crowded:
        keys = (keys >> np.uint64(8)) | np.uint64(0xAB << 56)
    keys = np.unique(keys)
    rng.shuffle(keys)
    assert not any_repeated(keys)
    for at, of in [(0, len(keys) - 1), (len(keys) - 1, 0), (100, 101)]:
        repeated = keys.copy()
        repeated[at] = keys[of]
        assert any_repeated(repeated)
    assert not any_repeated(np.zeros(0, np.uint64))
