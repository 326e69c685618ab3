"""A project folder whose state lives at the test's state URL (SQLite and Postgres)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engagectl.cli import main
from engagectl.state import StateStore, open_state

AUDIENCE = "kind: audience\nkey: {key}\nname: {name}\nwhere: {{event: Order Completed, within: 30d}}\n"


class StateProject:
    def __init__(self, directory: Path, state_url: str):
        self.directory = directory
        self.state_url = state_url
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "engage.yaml").write_text(f"space: spa_test\nstate: {state_url}\n")

    def audience(self, key: str, name: str = "An audience", extra: str = "") -> None:
        path = self.directory / "audiences" / f"{key}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(AUDIENCE.format(key=key, name=name) + extra)

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["-C", str(self.directory), *args], catch_exceptions=False)

    def store(self) -> StateStore:
        return open_state(self.state_url, str(self.directory))


@pytest.fixture
def state_project(tmp_path, state_url) -> StateProject:
    return StateProject(tmp_path / "project", state_url)
