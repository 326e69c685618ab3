"""End-to-end fixtures: real projects in tmp_path, driven through the `engagectl` command a user types."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from engagectl.cli import main

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"

# The executable a user runs; the module form keeps the tests working without the console script.
ENGAGECTL = [shutil.which("engagectl")] if shutil.which("engagectl") else [
    sys.executable, "-c", "from engagectl.cli import main; main()"]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@dataclass
class Project:
    """A project folder on disk and the environment its commands run with."""

    root: Path
    env: dict = field(default_factory=dict)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 180) -> Result:
        """The `engagectl` executable in a child process, started in the project folder (or cwd)."""
        env = {**os.environ, **self.env}
        done = subprocess.run([*ENGAGECTL, *args], cwd=cwd or self.root, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, text=True, timeout=timeout, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    def cli(self, *args: str) -> Result:
        """The same command in-process (`-C` the project folder): fast, for the many small checks."""
        result = CliRunner().invoke(main, ["-C", str(self.root), *args], env=self.env)
        return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def shop(tmp_path) -> Project:
    """A fresh copy of examples/shop, without any local state or output."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".engage", "out", "__pycache__"))
    return Project(root, env={"SHOP_WRITE_KEY": "wk_shop_e2e_secret"})


@pytest.fixture
def project(tmp_path) -> Project:
    """An empty project folder with a minimal engage.yaml and a file destination."""
    root = tmp_path / "proj"
    root.mkdir()
    p = Project(root, env={"E2E_WRITE_KEY": "wk_e2e_very_secret"})
    p.write("engage.yaml", (
        "space: spa_e2e\n"
        "sources:\n"
        "  - key: web\n"
        "    path: data/*.jsonl\n"
        "    write_key: ${env:E2E_WRITE_KEY}\n"))
    p.write("destinations/out.yaml", "kind: destination\nkey: out\nprovider: file\nsettings: {path: out/x.jsonl}\n")
    return p


def events(*messages: dict) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)
