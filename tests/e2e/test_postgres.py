"""The example project with Postgres as warehouse and as state, as engage.yaml allows."""

from __future__ import annotations

import re

AS_OF = "2026-11-28T00:00:00Z"


def test_the_example_runs_on_postgres_warehouse_and_state(shop, postgres_url):
    config = shop.root / "engage.yaml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^warehouse:.*$", f"warehouse: {postgres_url}", text)
    text = re.sub(r"(?m)^state:.*$", f"state: {postgres_url}", text)
    config.write_text(text, encoding="utf-8")

    assert shop.cli("plan", "--detailed-exitcode").returncode == 2
    applied = shop.cli("apply", "--auto-approve", "--as-of", AS_OF, "--json")
    assert applied.returncode == 0, applied.stderr
    assert shop.cli("plan", "--detailed-exitcode").returncode == 0
    assert not (shop.root / ".engage").exists()
    body = shop.cli("profile", "email:bob@example.com", "--include", "high_value_users", "--json").json()
    assert body["traits"] == {"high_value_users": True}
    preview = shop.cli("preview", "high_value_users", "--json", "--as-of", AS_OF).json()
    assert preview["size"] >= 1
    assert shop.cli("run", "--json", "--as-of", AS_OF).json()["queued"] == 0
