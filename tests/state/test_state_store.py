"""The state store itself: one transaction per apply, refusals when the state moved on."""

from __future__ import annotations

import pytest

from engagectl.state import StalePlan, StateChangeset, StoredResource, Tombstone


def _changeset(lineage, serial, *resources, tombstones=(), new_lineage="lin-1"):
    return StateChangeset(expected_lineage=lineage, expected_serial=serial, new_lineage=new_lineage,
                          plan_hash="h" * 64, summary={"create": len(resources)},
                          upserts=list(resources), tombstones=list(tombstones))


def _resource(key: str, spec_hash: str = "a" * 64) -> StoredResource:
    return StoredResource(address=f"audience.{key}", kind="audience", key=key,
                          spec={"kind": "audience", "key": key}, hash=spec_hash)


def test_first_commit_records_the_lineage_and_serial_one(state_url, tmp_path):
    from engagectl.state import open_state

    store = open_state(state_url, str(tmp_path))
    assert store.snapshot().is_empty
    assert store.commit(_changeset(None, 0, _resource("a"))) == 1
    snapshot = store.snapshot()
    assert (snapshot.lineage, snapshot.serial) == ("lin-1", 1)
    assert snapshot.resources["audience.a"].spec == {"kind": "audience", "key": "a"}
    store.close()


def test_a_commit_against_a_moved_state_is_refused_and_writes_nothing(state_url, tmp_path):
    from engagectl.state import open_state

    store = open_state(state_url, str(tmp_path))
    store.commit(_changeset(None, 0, _resource("a")))
    store.commit(_changeset("lin-1", 1, _resource("a", "b" * 64)))
    with pytest.raises(StalePlan, match="serial 1"):
        store.commit(_changeset("lin-1", 1, _resource("c"),
                                tombstones=[Tombstone("trait", "x", "audience", "audience.x", "deleted")]))
    with pytest.raises(StalePlan, match="lineage"):
        store.commit(_changeset("other-lineage", 2, _resource("c")))
    with pytest.raises(StalePlan, match="empty state"):
        store.commit(_changeset(None, 0, _resource("c")))
    snapshot = store.snapshot()
    assert snapshot.serial == 2 and set(snapshot.resources) == {"audience.a"} and not snapshot.tombstones
    store.close()


def test_an_empty_changeset_does_not_bump_the_serial(state_url, tmp_path):
    from engagectl.state import open_state

    store = open_state(state_url, str(tmp_path))
    store.commit(_changeset(None, 0, _resource("a")))
    assert store.commit(_changeset("lin-1", 1)) == 1
    assert store.snapshot().serial == 1 and len(store.history()) == 1
    store.close()
