"""Events in, deliveries out, on a small project of our own: ingest, run, sync, the file provider, tokens, locks."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from engagectl.cli import main

from .conftest import events

HOSTILE = "x'); drop table engage.events; --"

EVENTS = events(
    {"type": "identify", "userId": "u1", "messageId": "m1", "timestamp": "2024-05-01T00:00:00Z",
     "traits": {"email": "bob@example.com", "plan": HOSTILE}},
    {"type": "identify", "userId": "u2", "messageId": "m2", "timestamp": "2024-05-01T00:00:00Z",
     "traits": {"email": "amy@example.com", "plan": "pro"}},
    {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m3",
     "timestamp": "2024-05-20T00:00:00Z", "properties": {"revenue": 150}},
)

AUDIENCES = """\
kind: audience
key: hostile
where: {trait: plan, eq: "x'); drop table engage.events; --"}
---
kind: audience
key: recent_buyers
where: {event: Order Completed, within: 14d}
destinations:
  - to: out
    identify: true
    track: {enter: Audience Entered, exit: Audience Exited}
"""


def make(project):
    project.write("data/events.jsonl", EVENTS)
    project.write("audiences/a.yaml", AUDIENCES)
    return project


def messages(project):
    path = project.root / "out" / "x.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_ingest_json_counts_and_a_second_ingest_adds_nothing(project):
    make(project)
    first = project.cli("ingest", "--json")
    assert first.returncode == 0, first.stderr
    assert {k: first.json()[k] for k in ("files", "lines", "loaded", "duplicates")} == \
        {"files": 1, "lines": 3, "loaded": 3, "duplicates": 0}
    second = project.cli("ingest", "--json").json()
    assert (second["loaded"], second["duplicates"]) == (0, 3)


def test_a_malformed_line_names_file_and_line_and_loads_nothing(project):
    make(project)
    good = json.dumps({"type": "track", "userId": "u9", "event": "X", "messageId": "m9",
                       "timestamp": "2024-05-02T00:00:00Z"})
    project.write("bad.jsonl", good + "\n" + good.replace("m9", "m10") + "\n{\"type\": \"track\", oops\n")
    result = project.cli("ingest", str(project.root / "bad.jsonl"))
    assert result.returncode == 1
    assert "bad.jsonl:3" in result.stderr + result.stdout
    as_json = project.cli("ingest", str(project.root / "bad.jsonl"), "--json")
    assert as_json.returncode == 1 and as_json.json()["loaded"] == 0
    # nothing of the refused file was kept: the good lines load once the file is fixed
    project.write("bad.jsonl", good + "\n" + good.replace("m9", "m10") + "\n")
    assert project.cli("ingest", str(project.root / "bad.jsonl"), "--json").json()["loaded"] == 2


def test_a_hostile_value_is_matched_as_a_literal(project):
    make(project)
    result = project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z")
    assert result.returncode == 0, result.stderr
    bob = project.cli("profile", "email:bob@example.com", "--json").json()
    assert bob["traits"]["plan"] == HOSTILE and bob["traits"]["hostile"] is True
    amy = project.cli("profile", "email:amy@example.com", "--json").json()
    assert amy["traits"].get("hostile") in (None, False)
    # the events table is still there: a second run reads it
    assert project.cli("run", "--json", "--as-of", "2024-06-01T00:00:00Z").returncode == 0
    for dialect in ("duckdb", "postgres"):
        sql = project.cli("compile", "hostile", "--dialect", dialect).stdout
        assert "'x''); drop table engage.events; --'" in sql


def test_file_provider_sends_identify_and_track_on_enter_and_exit_once(project):
    make(project)
    assert project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z").returncode == 0
    entered = messages(project)
    identify = [m for m in entered if m["type"] == "identify"]
    track = [m for m in entered if m["type"] == "track"]
    assert identify and track
    assert all(m["traits"]["recent_buyers"] is True for m in identify)
    assert {m.get("userId") for m in identify} == {"u1"}
    assert all(m["event"] == "Audience Entered" for m in track)
    for m in entered:
        personas = m["context"]["personas"]
        assert personas["computation_key"] == "recent_buyers" and personas["computation_class"] == "audience"
        assert personas["space_id"] == "spa_e2e" and m["messageId"]
    # once per identifier value: Bob's email and his user_id
    assert {m.get("context", {}).get("traits", {}).get("email") or m.get("traits", {}).get("email")
            for m in identify} >= {"bob@example.com"}

    # the same as-of again: nothing new
    assert project.cli("run", "--as-of", "2024-06-01T00:00:00Z").returncode == 0
    assert len(messages(project)) == len(entered)

    # three weeks later the order is outside 14d: Bob exits
    later = project.cli("run", "--json", "--as-of", "2024-06-10T00:00:00Z")
    assert later.returncode == 0, later.stderr
    row = next(c for c in later.json()["computations"] if c["key"] == "recent_buyers")
    assert (row["size"], row["exited"]) == (0, 1)
    exited = messages(project)[len(entered):]
    assert any(m["type"] == "identify" and m["traits"]["recent_buyers"] is False for m in exited)
    assert any(m["type"] == "track" and m["event"] == "Audience Exited" for m in exited)
    ids = [m["messageId"] for m in messages(project)]
    assert len(ids) == len(set(ids))

    assert project.cli("sync", "--json").json() == {"delivered": 0, "retrying": 0, "discarded": 0, "failed": 0}
    assert len(messages(project)) == len(ids)


def test_the_write_key_never_reaches_state_plans_or_output(project):
    make(project)
    secret = "wk_e2e_very_secret"
    saved = project.cli("plan", "-out", str(project.root / "plan.json"))
    assert saved.returncode == 0
    applied = project.cli("apply", str(project.root / "plan.json"), "--as-of", "2024-06-01T00:00:00Z")
    assert applied.returncode == 0, applied.stderr
    assert secret not in applied.stdout + applied.stderr
    for path in project.root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_tokens_are_shown_once_listed_without_the_secret_and_revoked(project):
    created = project.cli("tokens", "create", "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    token = created.json()
    assert token["space"] == "spa_e2e" and token["token"]
    listing = project.cli("tokens", "list", "--json")
    assert token["token"] not in listing.stdout
    [row] = listing.json()["tokens"]
    assert row["id"] == token["id"] and row["revoked_at"] is None
    for path in project.root.rglob("*"):
        if path.is_file():
            assert token["token"].encode() not in path.read_bytes()
    assert project.cli("tokens", "revoke", token["id"]).returncode == 0
    [row] = project.cli("tokens", "list", "--json").json()["tokens"]
    assert row["revoked_at"] is not None


def test_a_stuck_lock_blocks_writers_naming_the_holder_until_unlocked(project):
    make(project)
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    # a writer that died holding the lock
    crash = ("import os; from engagectl.state.store import open_state; "
             "s = open_state('sqlite:///.engage/state.db', '.'); held = s.lock('apply', 1.0); held.__enter__(); os._exit(0)")
    subprocess.run([sys.executable, "-c", crash], cwd=project.root, check=True)
    project.write("audiences/b.yaml", "kind: audience\nkey: b1\nwhere: {trait: plan, eq: pro}\n")
    blocked = project.cli("apply", "--auto-approve", "--no-run", "--lock-timeout", "0.3")
    assert blocked.returncode == 1
    assert "locked by" in blocked.stderr and "state unlock" in blocked.stderr
    lock_id = blocked.stderr.split("engagectl state unlock ")[1].split("`")[0].strip()
    assert project.cli("state", "list", "--json").json()["serial"] == 1
    assert project.cli("state", "unlock", lock_id).returncode == 0
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    assert project.cli("state", "list", "--json").json()["serial"] == 2


def test_enters_follow_id_sync_but_exits_go_to_every_identifier(project):
    project.write("audiences/a.yaml", (
        "kind: audience\nkey: buyers\nwhere: {event: Order Completed, within: 7d}\n"
        "destinations:\n  - to: out\n    identify: true\n    id_sync: {email: last, user_id: first}\n"))
    project.write("data/e.jsonl", events(
        {"type": "identify", "userId": "u1", "timestamp": "2024-05-01T00:00:00Z", "messageId": "i1",
         "traits": {"email": "b1@example.com"}},
        {"type": "identify", "userId": "u1", "timestamp": "2024-05-02T00:00:00Z", "messageId": "i2",
         "traits": {"email": "b2@example.com"}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "timestamp": "2024-05-30T00:00:00Z",
         "messageId": "o1"}))
    assert project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z").returncode == 0
    entered = messages(project)
    assert {m["traits"].get("email") for m in entered if m["traits"]["buyers"] is True} == {"b2@example.com", None}
    assert project.cli("run", "--as-of", "2024-06-20T00:00:00Z").returncode == 0
    exited = [m for m in messages(project) if m["traits"]["buyers"] is False]
    assert {m["traits"].get("email") for m in exited} == {"b1@example.com", "b2@example.com", None}
    assert all(m.get("userId") == "u1" for m in exited)


def test_a_failing_webhook_is_retried_and_audited_without_leaking_its_settings(project):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.env.update({"E2E_HOOK_URL": f"http://127.0.0.1:{port}/hook_path_e2e_secret",
                        "E2E_HOOK_SECRET": "hook_secret_e2e_value"})
    project.write("destinations/hook.yaml", (
        "kind: destination\nkey: hook\nprovider: webhook\n"
        "settings: {url: \"${env:E2E_HOOK_URL}\", secret: \"${env:E2E_HOOK_SECRET}\"}\n"))
    project.write("data/events.jsonl", EVENTS)
    project.write("audiences/a.yaml", "kind: audience\nkey: buyers\nwhere: {event: Order Completed, within: 14d}\n"
                                      "destinations: [hook]\n")
    outputs = [project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z", "--no-sync")]
    sync = project.cli("sync", "--json")
    assert sync.returncode == 0
    assert sync.json()["retrying"] >= 1 and sync.json()["delivered"] == 0
    audit = project.cli("audit", "--json")
    assert any(e["destination"] == "hook" for e in audit.json()["entries"])
    deliveries = project.cli("deliveries", "--destination", "hook", "--status", "retrying", "--json")
    assert deliveries.json()["deliveries"] and all(d["status"] == "retrying" for d in deliveries.json()["deliveries"])
    outputs += [sync, audit, deliveries, project.cli("deliveries"), project.cli("audit"),
                project.cli("state", "show", "hook"), project.cli("plan")]
    for secret in ("hook_path_e2e_secret", "hook_secret_e2e_value"):
        for result in outputs:
            assert secret not in result.stdout + result.stderr
        for path in project.root.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_ingest_reads_the_sources_globs_gzip_and_stdin(project):
    import gzip

    one = {"type": "track", "userId": "u1", "event": "X", "timestamp": "2024-05-02T00:00:00Z", "messageId": "g1"}
    (project.root / "data").mkdir()
    (project.root / "data" / "a.jsonl.gz").write_bytes(gzip.compress(events(one).encode()))
    project.write("engage.yaml", "space: spa_e2e\nsources:\n  - key: web\n    path: data/*.jsonl*\n")
    project.write("data/b.jsonl", events({**one, "messageId": "g2", "userId": "u2"}))
    doc = project.cli("ingest", "--json").json()
    assert {k: doc[k] for k in ("files", "lines", "loaded", "duplicates")} == \
        {"files": 2, "lines": 2, "loaded": 2, "duplicates": 0}
    piped = CliRunner().invoke(main, ["-C", str(project.root), "ingest", "-", "--json"],
                               input=events({**one, "messageId": "g3"}))
    assert piped.exit_code == 0 and json.loads(piped.stdout)["loaded"] == 1


def test_a_hostile_event_name_and_user_id_are_plain_text(project):
    project.write("data/h.jsonl", events(
        {"type": "identify", "userId": HOSTILE, "timestamp": "2024-05-02T00:00:00Z", "messageId": "h1",
         "traits": {"email": "h@example.com", "note": HOSTILE}},
        {"type": "track", "userId": HOSTILE, "event": HOSTILE, "timestamp": "2024-05-02T00:00:00Z",
         "messageId": HOSTILE, "properties": {"p": HOSTILE}}))
    project.write("audiences/h.yaml", "kind: audience\nkey: hev\nwhere: {event: \"x'); drop table engage.events; --\", "
                                      "where: {property: p, eq: \"x'); drop table engage.events; --\"}}\n")
    assert project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z").returncode == 0
    body = project.cli("profile", f"user_id:{HOSTILE}", "--json").json()
    assert body["traits"]["note"] == HOSTILE and body["traits"]["hev"] is True
    preview = project.cli("preview", "hev", "--json", "--as-of", "2024-06-01T00:00:00Z").json()
    assert preview["size"] == 1 and preview["sample"][0]["external_ids"]["user_id"] == [HOSTILE]


def test_a_saved_plan_applies_what_was_reviewed_not_later_edits(project):
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("plan", "-out", str(project.root / "plan.json")).returncode == 0
    project.write("audiences/b.yaml", "kind: audience\nkey: a2\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", str(project.root / "plan.json"), "--no-run").returncode == 0
    listed = {r["address"] for r in project.cli("state", "list", "--json").json()["resources"]}
    assert "audience.a1" in listed and "audience.a2" not in listed
    assert project.cli("plan", "--detailed-exitcode").returncode == 2
    # and the same saved plan cannot be applied twice
    assert project.cli("apply", str(project.root / "plan.json"), "--no-run").returncode == 1


def _a_buyer(project, *more: dict) -> None:
    """u1 (b1@example.com) in the audience `buyers`, applied as of 2024-06-01, with `more` events."""
    project.write("audiences/a.yaml", "kind: audience\nkey: buyers\nwhere: {event: Order Completed, within: 30d}\n"
                                      "destinations: [out]\n")
    project.write("data/e.jsonl", events(
        {"type": "identify", "userId": "u1", "timestamp": "2024-05-01T00:00:00Z", "messageId": "i1",
         "traits": {"email": "b1@example.com"}},
        {"type": "track", "userId": "u1", "event": "Order Completed", "timestamp": "2024-05-30T00:00:00Z",
         "messageId": "o1"}, *more))
    assert project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z").returncode == 0


def test_a_member_who_gains_an_identifier_is_sent_again_for_it_only(project):
    _a_buyer(project)
    first = messages(project)
    project.write("data/f.jsonl", events(
        {"type": "identify", "userId": "u1", "timestamp": "2024-06-01T10:00:00Z", "messageId": "i3",
         "traits": {"email": "b3@example.com"}}))
    run = project.cli("run", "--json", "--as-of", "2024-06-02T00:00:00Z").json()
    row = next(c for c in run["computations"] if c["key"] == "buyers")
    assert (row["size"], row["entered"], row["exited"]) == (1, 0, 0)
    new = messages(project)[len(first):]
    assert [(m["traits"].get("email"), m["traits"]["buyers"]) for m in new] == [("b3@example.com", True)]


def test_apply_no_sync_queues_and_sync_delivers_them(project):
    make(project)
    applied = project.cli("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z", "--no-sync", "--json")
    assert applied.returncode == 0, applied.stderr
    assert applied.json()["run"]["queued"] >= 1
    assert messages(project) == []
    queued = project.cli("deliveries", "--status", "queued", "--json").json()["deliveries"]
    assert len(queued) == applied.json()["run"]["queued"]
    sync = project.cli("sync", "--json").json()
    assert sync == {"delivered": len(queued), "retrying": 0, "discarded": 0, "failed": 0}
    assert len(messages(project)) == len(queued)


def test_dash_c_reads_relative_paths_in_the_project_folder(project, tmp_path):
    import os

    make(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = str(project.root)
    assert project.run("-C", where, "ingest", "data/events.jsonl", "--json", cwd=elsewhere).json()["loaded"] == 3
    assert project.run("-C", where, "plan", "-out", "plan.json", cwd=elsewhere).returncode == 0
    assert (project.root / "plan.json").exists() and not (elsewhere / "plan.json").exists()
    applied = project.run("-C", where, "apply", "plan.json", "--no-run", cwd=elsewhere)
    assert applied.returncode == 0, applied.stderr
    # in-process, the caller's working folder is given back when the command ends
    before = os.getcwd()
    assert project.cli("state", "list").returncode == 0
    assert os.getcwd() == before


def test_a_merge_sends_the_survivors_memberships_again(project):
    _a_buyer(project, {"type": "page", "anonymousId": "a9", "timestamp": "2024-05-31T00:00:00Z", "messageId": "p9"})
    first = messages(project)
    # The device's own profile merges into u1's when u1 logs in on it.
    project.write("data/f.jsonl", events(
        {"type": "identify", "userId": "u1", "anonymousId": "a9", "timestamp": "2024-06-01T10:00:00Z",
         "messageId": "i2"}))
    run = project.cli("run", "--json", "--as-of", "2024-06-02T00:00:00Z").json()
    row = next(c for c in run["computations"] if c["key"] == "buyers")
    assert (row["size"], row["entered"], row["exited"]) == (1, 0, 0)
    again = messages(project)[len(first):]
    identifies = [m for m in again if m["type"] == "identify"]
    assert identifies, "a merge sends the survivor's current values again"
    assert {(m["userId"], m["traits"]["buyers"]) for m in identifies} == {("u1", True)}
    assert [(m["userId"], m["previousId"]) for m in again if m["type"] == "alias"] == [("u1", "a9")]
    assert {m["messageId"] for m in again}.isdisjoint({m["messageId"] for m in first})
    # The merge belongs to that run only: the next run sends nothing for it.
    project.cli("run", "--as-of", "2024-06-03T00:00:00Z")
    assert len(messages(project)) == len(first) + len(again)
