"""`engagectl tokens`: a token is printed once, stored only as a hash, listed without it, revocable."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from engagectl.cli import main


def _run(project_dir, *args):
    return CliRunner().invoke(main, ["-C", str(project_dir), "tokens", *args])


def test_create_prints_the_token_once_and_stores_a_hash(project_dir):
    result = _run(project_dir, "create", "--name", "ci", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"id", "token", "space", "name", "created_at"}
    assert created["space"] == "spa_test" and created["name"] == "ci"
    assert created["token"].startswith(created["id"] + ".")

    stored = sqlite3.connect(project_dir / ".engage" / "state.db").execute("select * from tokens").fetchall()
    assert len(stored) == 1
    assert created["token"] not in repr(stored)
    secret_part = created["token"].partition(".")[2]
    assert secret_part not in repr(stored)

    listed = _run(project_dir, "list", "--json")
    assert listed.exit_code == 0
    assert created["token"] not in listed.output and secret_part not in listed.output
    assert json.loads(listed.output)["tokens"][0]["id"] == created["id"]
    assert created["id"] in _run(project_dir, "list").output


def test_create_for_another_space(project_dir):
    created = json.loads(_run(project_dir, "create", "--space", "spa_other", "--json").output)
    assert created["space"] == "spa_other"


def test_revoke_marks_the_token_and_unknown_ids_fail(project_dir):
    created = json.loads(_run(project_dir, "create", "--json").output)
    revoked = _run(project_dir, "revoke", created["id"], "--json")
    assert revoked.exit_code == 0
    assert json.loads(revoked.output)["revoked_at"]
    assert "revoked" in _run(project_dir, "list").output

    missing = _run(project_dir, "revoke", "tok_nope")
    assert missing.exit_code == 1
    assert "tok_nope" in missing.output


def test_token_store_on_both_state_engines(state_url):
    from engagectl.server.tokens import TokenStore

    store = TokenStore.open(state_url)
    issued = store.create("spa_a", "one")
    assert store.authenticate(issued.secret).token_id == issued.token.token_id
    assert store.authenticate(issued.secret[:-1] + ("a" if issued.secret[-1] != "a" else "b")) is None
    store.revoke(issued.token.token_id)
    assert store.authenticate(issued.secret) is None
    assert [t.revoked for t in store.list()] == [True]
