"""A small project on disk whose state lives at the test's state URL, and a way to run commands in it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from plan_samples import BRAZE, HIGH_VALUE

from engagectl.cli import main
from engagectl.state import StateSnapshot, open_state


class ProjectFolder:
    """A project folder: write files, run engagectl in it, read its state."""

    def __init__(self, directory: Path, state_url: str):
        self.directory = directory
        self.state_url = state_url
        directory.mkdir(parents=True, exist_ok=True)
        self.write("engage.yaml", f"space: spa_test\nstate: {state_url}\n")

    def write(self, relative: str, text: str) -> Path:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def remove(self, relative: str) -> None:
        (self.directory / relative).unlink()

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, ["-C", str(self.directory), *args], input=input, catch_exceptions=False)

    def json(self, *args: str, exit_code: int | None = 0) -> dict:
        result = self.run(*args, "--json")
        if exit_code is not None:
            assert result.exit_code == exit_code, result.output
        return json.loads(result.stdout)

    def apply(self, *args: str) -> Result:
        result = self.run("apply", "--auto-approve", *args)
        assert result.exit_code == 0, result.output
        return result

    def snapshot(self) -> StateSnapshot:
        store = open_state(self.state_url, str(self.directory))
        try:
            return store.snapshot()
        finally:
            store.close()


@pytest.fixture
def project(tmp_path, state_url) -> ProjectFolder:
    """A project with one audience bound to one destination (not applied yet)."""
    folder = ProjectFolder(tmp_path / "project", state_url)
    folder.write("destinations/braze.yaml", BRAZE)
    folder.write("audiences/high_value_users.yaml", HIGH_VALUE)
    return folder


@pytest.fixture
def applied(project) -> ProjectFolder:
    """The same project after one apply (serial 1)."""
    project.apply()
    return project
