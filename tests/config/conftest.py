"""Project folders written from a dict of files, for the language's tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

DEFAULT_SETTINGS = """\
space: spa_test
sources:
  - key: web
    path: data/*.jsonl
"""


@pytest.fixture(autouse=True)
def known_providers(monkeypatch):
    """The language's tests judge references, not which providers are installed."""
    import engagectl.config.validate as validate

    monkeypatch.setattr(validate, "available_provider_names", lambda: {"file", "webhook"})


@pytest.fixture
def make_project(tmp_path):
    """make_project({"audiences/a.yaml": "..."}) -> the folder; engage.yaml is added unless given."""

    def make(files: dict[str, str]) -> Path:
        files = {"engage.yaml": DEFAULT_SETTINGS, **files}
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return make


@pytest.fixture
def problems(make_project):
    """problems({...}) -> every diagnostic of the project as `file:line:col: message` lines."""
    from engagectl.config.loader import read_project

    def read(files: dict[str, str]) -> list[str]:
        return [str(d) for d in read_project(make_project(files)).diagnostics]

    return read
