"""Identity runs: stable ids, merges keeping the older profile, incremental runs, identify traits."""

from __future__ import annotations

import json
import random

import pytest
from sqlglot import exp

from engagectl.config.models import IdentitySettings
from engagectl.identity import profile_id_for, resolve_identities
from engagectl.ingest import ingest_files, ingest_messages
from engagectl.warehouse import open_warehouse


@pytest.fixture
def warehouse(warehouse_url):
    opened = open_warehouse(warehouse_url)
    yield opened
    opened.close()


def _msg(message_id: str, ts: str, **fields) -> dict:
    kind = fields.pop("type", "track")
    base = {"type": kind, "messageId": message_id, "timestamp": f"2024-05-{ts}Z"}
    if kind == "track":
        base["event"] = "Product Viewed"
    return {**base, **fields}


def _profile_of(warehouse, message_id: str) -> str:
    return warehouse.fetchall(warehouse.parse(
        "SELECT profile_id FROM events WHERE message_id = :m", m=message_id))[0][0]


def _traits(warehouse, profile_id: str) -> dict:
    rows = warehouse.fetchall(warehouse.parse(
        "SELECT key, value FROM profile_traits WHERE profile_id = :p", p=profile_id))
    return {key: json.loads(value) for key, value in rows}


def test_a_merge_keeps_the_older_profile_and_records_the_message(warehouse):
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", anonymousId="a1"),
        _msg("m2", "02T10:00:00", type="identify", userId="u1"),
        _msg("m3", "03T10:00:00", userId="u1", anonymousId="a1"),
    ])
    report = resolve_identities(warehouse, IdentitySettings())
    older = profile_id_for("m1")
    assert report.merges == 1
    assert {_profile_of(warehouse, m) for m in ("m1", "m2", "m3")} == {older}
    merges = warehouse.fetch_dicts(warehouse.parse("SELECT merged_profile_id, into_profile_id, message_id FROM merges"))
    assert merges == [{"merged_profile_id": profile_id_for("m2"), "into_profile_id": older, "message_id": "m3"}]
    assert warehouse.fetchall(warehouse.parse("SELECT profile_id FROM profiles")) == [(older,)]


def test_an_incremental_run_merges_stored_profiles_and_repoints_their_rows(warehouse):
    settings = IdentitySettings()
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", anonymousId="a1"),
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits={"plan": "free"}),
    ])
    resolve_identities(warehouse, settings)
    first, second = profile_id_for("m1"), profile_id_for("m2")
    assert {_profile_of(warehouse, "m1"), _profile_of(warehouse, "m2")} == {first, second}

    ingest_messages(warehouse, [_msg("m3", "03T10:00:00", userId="u1", anonymousId="a1")])
    report = resolve_identities(warehouse, settings)
    assert (report.events, report.merges) == (1, 1)
    assert {_profile_of(warehouse, m) for m in ("m1", "m2", "m3")} == {first}
    assert _traits(warehouse, first) == {"plan": "free"}
    identities = warehouse.fetchall(warehouse.parse("SELECT DISTINCT profile_id FROM identities"))
    assert identities == [(first,)]


def test_a_run_with_nothing_new_changes_nothing(warehouse):
    ingest_messages(warehouse, [_msg("m1", "01T10:00:00", userId="u1")])
    resolve_identities(warehouse, IdentitySettings())
    again = resolve_identities(warehouse, IdentitySettings())
    assert (again.events, again.profiles_created) == (0, 0)
    assert _profile_of(warehouse, "m1") == profile_id_for("m1")


def test_identify_traits_last_write_wins_and_null_removes(warehouse):
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", type="identify", userId="u1", traits={"plan": "free", "name": "Bob"}),
        _msg("m3", "03T10:00:00", type="identify", userId="u1", traits={"name": None, "city": "Oslo"}),
        # Arrives later but happened earlier: it does not win.
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits={"plan": "pro", "city": "Rome"}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"plan": "pro", "city": "Oslo"}


def test_events_without_any_identifier_stay_unresolved(warehouse):
    ingest_messages(warehouse, [_msg("m1", "01T10:00:00", userId="null")])
    resolve_identities(warehouse, IdentitySettings.model_validate({"blocked_values": ["null"]}))
    assert _profile_of(warehouse, "m1") is None


def test_blank_and_missing_values_are_not_identifiers(warehouse):
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", userId="   ", properties={"email": ""}),
        _msg("m2", "02T10:00:00", type="identify", userId=" ", anonymousId="A1",
             traits={"email": "  "}, context={"traits": {"email": None}}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _profile_of(warehouse, "m1") is None
    rows = warehouse.fetchall(warehouse.parse("SELECT id_type, id_value FROM identities"))
    assert rows == [("anonymous_id", "a1")]


def test_an_identify_call_without_identifiers_gives_no_profile_and_no_traits(warehouse):
    # Alone in its run (no event of the run has a profile), then beside one that resolves: the
    # later call without identifiers must not land on that profile.
    ingest_messages(warehouse, [_msg("m1", "01T10:00:00", type="identify", userId=" ", traits={"plan": "pro"})])
    resolve_identities(warehouse, IdentitySettings())
    ingest_messages(warehouse, [_msg("m2", "04T10:00:00", type="identify", traits={"plan": "free"}),
                                _msg("m3", "03T10:00:00", type="identify", userId="u1", traits={"plan": "team"})])
    resolve_identities(warehouse, IdentitySettings())
    assert [_profile_of(warehouse, m) for m in ("m1", "m2")] == [None, None]
    assert warehouse.fetchall(warehouse.parse("SELECT profile_id, key, value FROM profile_traits")) == [
        (_profile_of(warehouse, "m3"), "plan", '"team"')]


def test_identifier_last_seen_follows_new_events(warehouse):
    ingest_messages(warehouse, [_msg("m1", "01T10:00:00", userId="u1")])
    resolve_identities(warehouse, IdentitySettings())
    ingest_messages(warehouse, [_msg("m2", "09T10:00:00", userId="u1")])
    resolve_identities(warehouse, IdentitySettings())
    row = warehouse.fetch_dicts(warehouse.parse("SELECT first_seen, last_seen FROM identities"))[0]
    assert (row["first_seen"].day, row["last_seen"].day) == (1, 9)


def test_a_later_run_updates_the_rows_of_stored_profiles_and_identifiers_it_meets(warehouse):
    # Three stored profiles, among other rows; the second run merges two of them (deleting one
    # profile row, repointing identifier rows) before it records recency on the rows it read.
    settings = IdentitySettings()
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", anonymousId="a1"),
        _msg("m2", "02T10:00:00", userId="u1"),
        _msg("m3", "03T10:00:00", userId="u2", anonymousId="a2"),
        *[_msg(f"x{n}", "04T10:00:00", userId=f"other{n}") for n in range(20)],
    ])
    resolve_identities(warehouse, settings)
    ingest_messages(warehouse, [
        _msg("m4", "05T10:00:00", userId="u1", anonymousId="a1"),
        _msg("m5", "06T10:00:00", anonymousId="a2"),
    ])
    resolve_identities(warehouse, settings)
    profiles = {row["profile_id"]: row for row in warehouse.fetch_dicts(warehouse.parse(
        "SELECT profile_id, updated_at, last_message_id FROM profiles WHERE profile_id IN (:a, :b, :c)",
        a=profile_id_for("m1"), b=profile_id_for("m2"), c=profile_id_for("m3")))}
    assert {p: (row["updated_at"].day, row["last_message_id"]) for p, row in profiles.items()} == {
        profile_id_for("m1"): (5, "m4"), profile_id_for("m3"): (6, "m5")}
    seen = dict(warehouse.fetchall(warehouse.parse(
        "SELECT id_value, last_seen FROM identities WHERE id_value IN ('a1', 'u1', 'a2', 'u2', 'other3')")))
    assert {value: moment.day for value, moment in seen.items()} == {"a1": 5, "u1": 5, "a2": 6, "u2": 3,
                                                                     "other3": 4}


def test_a_survivor_takes_the_later_activity_of_a_stored_profile_it_absorbs(warehouse):
    # u1's profile was last active on the 9th; the 3rd's event merges it into a1's older one,
    # which then was last active on the 9th, as if both runs had been one.
    settings = IdentitySettings()
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", anonymousId="a1"),
        _msg("m2", "02T10:00:00", userId="u1"),
        _msg("m9", "09T10:00:00", userId="u1"),
    ])
    resolve_identities(warehouse, settings)
    ingest_messages(warehouse, [_msg("m3", "03T10:00:00", userId="u1", anonymousId="a1")])
    resolve_identities(warehouse, settings)
    rows = warehouse.fetch_dicts(warehouse.parse("SELECT profile_id, updated_at, last_message_id FROM profiles"))
    assert [(r["profile_id"], r["updated_at"].day, r["last_message_id"]) for r in rows] == [
        (profile_id_for("m1"), 9, "m9")]


def test_traits_that_are_not_an_object_are_ignored_not_fatal(warehouse):
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", type="identify", userId="u1", traits={"plan": "free", "nested": {"a": [1, 2]}}),
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits="x'); drop table engage.events; --"),
        _msg("m3", "03T10:00:00", type="identify", userId="u1", traits=[1, 2]),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"plan": "free", "nested": {"a": [1, 2]}}
    assert _profile_of(warehouse, "m2") == profile_id_for("m1")


def test_profiles_created_at_the_same_moment_merge_into_the_smaller_id(warehouse):
    # Two devices first seen in the same millisecond, then linked by a login: the older profile
    # survives, and between equals the smaller profile id (the run replays the tie with ids).
    ingest_messages(warehouse, [
        _msg("left", "01T10:00:00", anonymousId="a1"),
        _msg("right", "01T10:00:00", anonymousId="a2"),
        _msg("m3", "02T10:00:00", userId="u1", anonymousId="a1"),
        _msg("m4", "03T10:00:00", userId="u1", anonymousId="a2"),
    ])
    report = resolve_identities(warehouse, IdentitySettings())
    survivor, merged = sorted([profile_id_for("left"), profile_id_for("right")])
    assert report.merges == 1
    assert {_profile_of(warehouse, m) for m in ("left", "right", "m3", "m4")} == {survivor}
    merges = warehouse.fetch_dicts(warehouse.parse("SELECT merged_profile_id, into_profile_id, message_id FROM merges"))
    assert merges == [{"merged_profile_id": merged, "into_profile_id": survivor, "message_id": "m4"}]


def test_identifiers_are_read_from_contexts_of_every_shape(warehouse):
    # Each context is parsed once for all its fields; a field of another shape than expected
    # (traits a string, device a list, a numeric id, a key in other case) reads as missing or as
    # its text, exactly as reading each path on its own does.
    contexts = {
        "m1": {"traits": {"email": " Bob@Example.com "}, "device": {"type": "IOS", "id": 123, "token": "T-1",
                                                                   "advertisingId": "ad-1", "adTrackingEnabled": True}},
        "m2": {"traits": "not an object", "device": ["ios"], "externalIds": [{"id": "C-9", "type": "CRM_ID"}]},
        "m3": {"Device": {"type": "android", "id": "hidden"}, "device": {"type": "android", "id": "d-3",
                                                                        "adTrackingEnabled": "false",
                                                                        "advertisingId": "not-tracked"}},
        "m4": "a string context",
    }
    ingest_messages(warehouse, [_msg(m, f"0{i + 1}T10:00:00", anonymousId=f"a{i}", context=c)
                                for i, (m, c) in enumerate(contexts.items())])
    resolve_identities(warehouse, IdentitySettings())
    rows = warehouse.fetchall(warehouse.parse("SELECT first_message_id, id_type, id_value FROM identities"))
    found = sorted((m, t, v) for m, t, v in rows if t != "anonymous_id")
    assert found == [("m1", "email", "bob@example.com"), ("m1", "ios.id", "123"), ("m1", "ios.idfa", "ad-1"),
                     ("m1", "ios.push_token", "t-1"), ("m2", "crm_id", "c-9"), ("m3", "android.id", "d-3")]


def test_an_email_key_is_found_however_its_document_spells_it(warehouse, tmp_path):
    # Documents are only parsed for an email when their text could name one: a key spelled with
    # \u escapes names it as well, a value mentioning "email" or a nested key does not.
    lines = {
        "m1": '"properties": {"\\u0065mail": "Esc@Example.com"}',
        "m2": '"traits": {"em\\u0061il": "trait@example.com"}',
        "m3": '"properties": {"note": "email me", "contact": {"email": "nested@example.com"}}',
        "m4": '"properties": {"email": "plain@example.com"}',
    }
    path = tmp_path / "spelled.jsonl"
    path.write_text("".join(f'{{"type": "track", "event": "Viewed", "messageId": "{m}", "anonymousId": "a-{m}", '
                            f'"timestamp": "2024-05-01T10:00:0{i}Z", {body}}}\n'
                            for i, (m, body) in enumerate(lines.items())))
    ingest_files(warehouse, [str(path)])
    resolve_identities(warehouse, IdentitySettings())
    rows = warehouse.fetchall(warehouse.parse(
        "SELECT first_message_id, id_value FROM identities WHERE id_type = 'email' ORDER BY 1"))
    assert rows == [("m1", "esc@example.com"), ("m2", "trait@example.com"), ("m4", "plain@example.com")]


def test_a_trait_written_twice_in_one_call_keeps_the_later_value(warehouse, tmp_path):
    # JSON parsers keep the later of two entries with the same key; so does a profile.
    path = tmp_path / "twice.jsonl"
    path.write_text('{"type": "identify", "messageId": "m1", "timestamp": "2024-05-01T10:00:00Z", "userId": "u1",'
                    ' "traits": {"plan": "free", "name": "Bob", "plan": "pro"}}\n')
    ingest_files(warehouse, [str(path)])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"plan": "pro", "name": "Bob"}


def test_traits_of_calls_under_different_top_identifiers_of_one_profile_take_the_latest(warehouse):
    # Calls are narrowed per top identifier while the rules run: one profile's calls under its
    # email and under its user id are compared again once the profile is known, in a first run too.
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", type="identify", traits={"email": "bob@example.com", "plan": "free", "city": "Oslo"}),
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits={"email": "bob@example.com", "plan": "pro"}),
        _msg("m3", "03T10:00:00", type="identify", traits={"email": "bob@example.com", "plan": "team"}),
        _msg("m4", "04T10:00:00", type="identify", userId="u1", traits={"city": None}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert {_profile_of(warehouse, m) for m in ("m1", "m2", "m3", "m4")} == {profile_id_for("m1")}
    assert _traits(warehouse, profile_id_for("m1")) == {"email": "bob@example.com", "plan": "team"}


@pytest.mark.parametrize("stored", [False, True], ids=["first run", "meeting a stored profile"])
def test_each_key_comes_from_the_latest_call_by_moment_then_by_arrival(warehouse, stored):
    # Calls arrive out of order: an older call ingested later loses, and of two calls at the
    # same moment the one ingested later wins. A first run narrows its calls beside the rules;
    # a run meeting a stored profile takes every entry of its calls.
    if stored:
        ingest_messages(warehouse, [
            _msg("m0", "01T09:00:00", type="identify", userId="u1", traits={"city": "Oslo"})])
        resolve_identities(warehouse, IdentitySettings())
    ingest_messages(warehouse, [
        _msg("m1", "03T10:00:00", type="identify", userId="u1", traits={"plan": "pro", "city": "Bergen"}),
        _msg("m2", "01T10:00:00", type="identify", userId="u1", traits={"plan": "free", "name": "Bob"}),
        _msg("m3", "03T10:00:00", type="identify", userId="u1", traits={"city": "Rome"}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    profile = profile_id_for("m0" if stored else "m2")
    assert _traits(warehouse, profile) == {"plan": "pro", "city": "Rome", "name": "Bob"}


def test_a_later_run_changes_only_the_keys_its_calls_write(warehouse):
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", type="identify", userId="u1",
             traits={"plan": "free", "name": "Bob", "city": "Oslo"}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    ingest_messages(warehouse, [
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits={"plan": "pro", "name": None}),
        _msg("m3", "02T10:00:00", type="identify", userId="u2", traits={"plan": "team"}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"plan": "pro", "city": "Oslo"}
    assert _traits(warehouse, profile_id_for("m3")) == {"plan": "team"}
    # At the very moment of the last call the profile holds, the later message wins.
    ingest_messages(warehouse, [_msg("m4", "02T10:00:00", type="identify", userId="u1", traits={"plan": "basic"})])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"plan": "basic", "city": "Oslo"}


def test_a_late_call_is_weighed_against_every_call_the_profile_holds(warehouse):
    # Arriving in a later run but older than what the profile holds: it loses to a later value,
    # and to a later null that removed its key; a key nobody wrote later is taken.
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", type="identify", userId="u1", traits={"plan": "free", "city": "Oslo"}),
        _msg("m3", "03T10:00:00", type="identify", userId="u1", traits={"plan": None}),
        _msg("m4", "04T10:00:00", type="identify", userId="u1", traits={"city": "Rome"}),
        _msg("m5", "05T10:00:00", userId="u1"),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"city": "Rome"}
    ingest_messages(warehouse, [
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits={"plan": "pro", "city": "Bonn", "age": 40}),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _traits(warehouse, profile_id_for("m1")) == {"city": "Rome", "age": 40}


def test_traits_over_many_runs_are_the_latest_of_every_call_a_profile_holds(warehouse):
    # Random identify traffic over four runs (later and late calls, nulls, merges of stored
    # profiles): the stored traits are what the whole identify history of each profile gives.
    rng = random.Random(3)
    number = 0
    for run in range(4):
        messages = []
        for _ in range(60):
            number += 1
            person = rng.randrange(12)
            traits = {key: rng.choice([None, rng.randrange(5)]) for key in rng.sample(["a", "b", "c", "d"], 2)}
            day = rng.randrange(1, 9) + (run * 6 if rng.random() < 0.8 else 0)  # mostly later, some late
            identifiers = {"userId": f"u{person}"} if rng.random() < 0.6 else {}
            identifiers["anonymousId"] = f"a{person}-{rng.randrange(3)}"
            messages.append(_msg(f"m{number}", f"{day:02d}T{rng.randrange(24):02d}:00:00", type="identify",
                                 traits=traits, **identifiers))
        ingest_messages(warehouse, messages)
        resolve_identities(warehouse, IdentitySettings())

    expected: dict[str, dict] = {}
    calls = warehouse.fetchall(warehouse.parse("""
        SELECT profile_id, CAST(traits AS TEXT) FROM events WHERE type = 'identify' ORDER BY "timestamp", seq"""))
    for profile_id, traits in calls:
        for key, value in json.loads(traits).items():
            expected.setdefault(profile_id, {})[key] = value
    expected = {p: {k: v for k, v in t.items() if v is not None} for p, t in expected.items()}
    profile_ids = warehouse.fetchall(warehouse.parse("SELECT profile_id FROM profiles"))
    stored = {p: _traits(warehouse, p) for (p,) in profile_ids}
    assert warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM merges"))[0][0] > 0
    assert {p: t for p, t in stored.items() if t} == {p: t for p, t in expected.items() if t}


def test_a_run_too_large_for_the_kernels_is_refused_before_it_writes_anything(warehouse, monkeypatch):
    # Seq numbers past the watermark travel as int32: a run of 2^31 of them is refused up front.
    from engagectl.identity import resolver

    ingest_messages(warehouse, [_msg(f"m{i}", f"0{i}T10:00:00", userId=f"u{i}") for i in range(1, 4)])
    monkeypatch.setattr(resolver, "MAX_RUN", 3)
    with pytest.raises(ValueError, match="too large"):
        resolve_identities(warehouse, IdentitySettings())
    assert _profile_of(warehouse, "m1") is None
    monkeypatch.setattr(resolver, "MAX_RUN", 4)
    assert resolve_identities(warehouse, IdentitySettings()).events == 3


def test_a_statement_failing_beside_the_kernels_rolls_the_run_back_and_gives_the_threads_back(warehouse, monkeypatch):
    # The identify traits are narrowed on a thread while the rules run: its error is the run's,
    # nothing is written, and DuckDB gets back the thread it lent.
    from engagectl.identity import resolver
    from engagectl.warehouse import WarehouseError

    def threads() -> int | None:
        if warehouse.dialect != "duckdb":
            return None
        return warehouse.fetchall(warehouse.parse("SELECT current_setting('threads')"))[0][0]

    before = threads()
    ingest_messages(warehouse, [_msg("m1", "01T10:00:00", type="identify", userId="u1", traits={"plan": "pro"})])
    monkeypatch.setattr(resolver, "latest_by_node",
                        lambda w, calls: w.execute(w.parse("SELECT * FROM no_such_table")))
    with pytest.raises(WarehouseError, match="no_such_table"):
        resolve_identities(warehouse, IdentitySettings())
    assert _profile_of(warehouse, "m1") is None
    assert threads() == before
    monkeypatch.undo()
    assert resolve_identities(warehouse, IdentitySettings()).events == 1
    assert _traits(warehouse, profile_id_for("m1")) == {"plan": "pro"}


def test_a_user_id_named_only_in_external_ids_resolves_like_one_in_the_user_id_column(warehouse):
    # Events whose top identifier is their userId are written by that column; a user id that
    # comes from context.externalIds has no column to be found by.
    external = {"externalIds": [{"id": "U9", "type": "user_id", "collection": "users", "encoding": "none"}]}
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", anonymousId="a1", context=external),
        _msg("m2", "02T10:00:00", userId="u9"),
        _msg("m3", "03T10:00:00", userId="u7", anonymousId="a3"),
    ])
    resolve_identities(warehouse, IdentitySettings())
    assert _profile_of(warehouse, "m1") == _profile_of(warehouse, "m2") == profile_id_for("m1")
    assert _profile_of(warehouse, "m3") == profile_id_for("m3")


def test_events_stored_before_identifiers_were_extracted_at_ingest_resolve_by_their_documents(warehouse_url):
    # A warehouse of layout v3 held its events without `event_identifiers`: once reopened, the
    # run extracts what the documents of its unresolved events name.
    warehouse = open_warehouse(warehouse_url)
    ingest_messages(warehouse, [
        _msg("m1", "01T10:00:00", anonymousId="a1", context={"traits": {"email": "bob@example.com"}}),
        _msg("m2", "02T10:00:00", type="identify", userId="u1", traits={"email": "Bob@Example.com"}),
    ])
    with warehouse.transaction():
        for table in ("event_identifiers", "event_identifiers_watermark"):
            warehouse.execute(warehouse.parse(f"DROP TABLE {table}"))
        warehouse.execute(warehouse.parse("DELETE FROM layout_version WHERE version > 3"))
        warehouse.execute(warehouse.parse("INSERT INTO layout_version (version) VALUES (3)"))
    warehouse.close()

    warehouse = open_warehouse(warehouse_url)
    try:
        report = resolve_identities(warehouse, IdentitySettings())
        assert (report.profiles_created, report.identities_added) == (1, 3)
        assert _profile_of(warehouse, "m1") == _profile_of(warehouse, "m2") == profile_id_for("m1")
        ingest_messages(warehouse, [_msg("m3", "03T10:00:00", anonymousId="a3", properties={"email": "BOB@example.com"})])
        resolve_identities(warehouse, IdentitySettings())
        assert _profile_of(warehouse, "m3") == profile_id_for("m1")
    finally:
        warehouse.close()


def test_events_written_to_the_table_by_other_means_resolve_by_their_documents(warehouse):
    ingest_messages(warehouse, [_msg("m1", "01T10:00:00", userId="u1", traits={"email": "bob@example.com"},
                                     type="identify")])
    resolve_identities(warehouse, IdentitySettings())
    warehouse.execute(warehouse.parse("""
        INSERT INTO events (message_id, source, type, event, anonymous_id, "timestamp", context, seq)
        SELECT 'm2', 'crm', 'track', 'Called', 'a2', "timestamp", :context, seq + 1 FROM events""",
        context=exp.cast(exp.Literal.string(json.dumps({"traits": {"email": "BOB@example.com"}})), "JSON")))
    resolve_identities(warehouse, IdentitySettings())
    assert _profile_of(warehouse, "m2") == profile_id_for("m1")
