"""`plan` shows how many profiles each changed definition would move if it were applied now."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engagectl.cli import main

AS_OF = "2024-06-01T00:00:00Z"
# u1 spent 120, u2 80, u3 90: `gt: 100` holds u1 alone, `lt: 100` holds u2 and u3.
EVENTS = [
    {"type": "track", "event": "Order Completed", "userId": user, "messageId": f"m{n}",
     "timestamp": "2024-05-30T10:00:00Z", "properties": {"revenue": revenue}}
    for n, (user, revenue) in enumerate([("u1", 120), ("u2", 80), ("u3", 90)], start=1)
]
BUYERS = """\
kind: audience
key: buyers
name: Buyers
where: {event: Order Completed, where: {property: revenue, gt: 100}}
"""
SPEND = """\
kind: computed_trait
key: spend
event: Order Completed
value: {sum: revenue}
"""
ONBOARDING = """\
kind: journey
key: onboarding
entry: {event: Order Completed}
steps:
  - key: big
    where: {event: Order Completed, where: {property: revenue, gt: 100}}
"""


class ImpactProject:
    """A project whose events are ingested and computed by its first apply."""

    def __init__(self, directory: Path, warehouse_url: str):
        self.directory = directory
        self.write("engage.yaml", f"""\
            space: spa_test
            warehouse: {warehouse_url}
            state: sqlite:///{directory / 'state.db'}
            sources:
              - key: web
                path: data/*.jsonl
            """)
        self.write("data/events.jsonl", "".join(json.dumps(e) + "\n" for e in EVENTS))
        self.write("audiences/buyers.yaml", BUYERS)

    def write(self, relative: str, text: str) -> None:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["-C", str(self.directory), *args], catch_exceptions=False)

    def apply(self) -> None:
        result = self.run("apply", "--auto-approve", "--as-of", AS_OF, "--no-sync")
        assert result.exit_code == 0, result.output

    def plan_json(self, *args: str) -> dict:
        result = self.run("plan", "--json", "--as-of", AS_OF, *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def change(document: dict, address: str) -> dict:
    return next(c for c in document["changes"] if c["address"] == address)


@pytest.fixture
def applied(tmp_path, warehouse_url) -> ImpactProject:
    project = ImpactProject(tmp_path / "project", warehouse_url)
    project.apply()
    return project


def test_a_changed_condition_shows_who_would_enter_and_exit(applied):
    applied.write("audiences/buyers.yaml", BUYERS.replace("gt: 100", "lt: 100"))
    buyers = change(applied.plan_json(), "audience.buyers")
    assert buyers["action"] == "update"
    assert buyers["impact"] == {"entered": 2, "exited": 1, "changed": 0, "size": 2}

    human = applied.run("plan", "--as-of", AS_OF)
    assert human.exit_code == 0, human.output
    assert "# would enter 2, exit 1 (size 2) if applied as of 2024-06-01T00:00:00Z" in human.stdout


def test_the_estimate_writes_nothing(applied):
    applied.write("audiences/buyers.yaml", BUYERS.replace("gt: 100", "lt: 100"))
    applied.plan_json()
    applied.plan_json()  # the first estimate was rolled back: the second sees the same memberships
    assert change(applied.plan_json(), "audience.buyers")["impact"]["entered"] == 2


def test_new_traits_and_journey_steps_are_estimated_and_labels_are_not(applied):
    applied.write("audiences/buyers.yaml", BUYERS.replace("name: Buyers", "name: Big buyers"))
    applied.write("traits/spend.yaml", SPEND)
    applied.write("journeys/onboarding.yaml", ONBOARDING)
    document = applied.plan_json()
    assert "impact" not in change(document, "audience.buyers")  # a new name computes nothing new
    assert change(document, "computed_trait.spend")["impact"] == {"entered": 3, "exited": 0, "changed": 0, "size": 3}
    assert change(document, "journey.onboarding")["impact"] == {
        "steps": {"onboarding__big": {"entered": 1, "exited": 0, "changed": 0, "size": 1}}}
    assert list(document) == ["format_version", "lineage", "serial", "changes", "summary", "diagnostics"]

    human = applied.run("plan", "--as-of", AS_OF).stdout
    assert "# step onboarding__big: would enter 1, exit 0 (size 1)" in human


def test_no_data_skips_the_estimate(applied):
    applied.write("audiences/buyers.yaml", BUYERS.replace("gt: 100", "lt: 100"))
    assert "impact" not in change(applied.plan_json("--no-data"), "audience.buyers")
    human = applied.run("plan", "--no-data").stdout
    assert "would enter" not in human and "impact not shown" not in human


def test_a_saved_plan_carries_the_impact_and_applies_as_before(applied, tmp_path):
    applied.write("audiences/buyers.yaml", BUYERS.replace("gt: 100", "lt: 100"))
    plan_file = tmp_path / "buyers.plan"
    assert applied.run("plan", "--as-of", AS_OF, "-out", str(plan_file)).exit_code == 0
    shown = applied.run("show", str(plan_file), "--json")
    assert change(json.loads(shown.stdout), "audience.buyers")["impact"]["exited"] == 1
    assert "would enter 2, exit 1 (size 2) if applied as of 2024-06-01T00:00:00Z" in \
        applied.run("show", str(plan_file)).stdout

    result = applied.run("apply", str(plan_file), "--as-of", AS_OF, "--no-sync", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run"]
    assert {"key": "buyers", "kind": "audience", "size": 2, "entered": 2, "exited": 1, "changed": 0} \
        in run["computations"]


def test_applying_a_saved_plan_does_not_repeat_its_old_estimate(applied, tmp_path):
    applied.write("audiences/buyers.yaml", BUYERS.replace("gt: 100", "lt: 100"))
    plan_file = tmp_path / "buyers.plan"
    assert applied.run("plan", "-out", str(plan_file)).exit_code == 0
    result = applied.run("apply", str(plan_file), "--as-of", AS_OF, "--no-sync")
    assert result.exit_code == 0, result.output
    assert "audience.buyers will be updated in-place" in result.stdout
    assert "would enter" not in result.stdout


def test_without_a_warehouse_yet_the_plan_says_so_and_creates_none(tmp_path):
    project = ImpactProject(tmp_path / "project", "duckdb:///.engage/warehouse.duckdb")
    document = project.plan_json()
    assert change(document, "audience.buyers")["action"] == "create"
    assert "impact" not in change(document, "audience.buyers")
    human = project.run("plan")
    assert human.exit_code == 0
    assert ("impact not shown: the warehouse duckdb:///.engage/warehouse.duckdb does not exist yet "
            "(nothing has run)") in human.stdout
    assert not (project.directory / ".engage" / "warehouse.duckdb").exists()


HOLD_THE_FILE = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"


def test_a_locked_warehouse_does_not_fail_the_plan(tmp_path):
    project = ImpactProject(tmp_path / "project", "duckdb:///.engage/warehouse.duckdb")
    project.apply()
    project.write("audiences/buyers.yaml", BUYERS.replace("gt: 100", "lt: 100"))
    # Another process (say `engagectl serve`) holds the file: DuckDB lets no second process in.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_FILE, str(project.directory / ".engage" / "warehouse.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = project.run("plan", "--detailed-exitcode")
    finally:
        holder.communicate("")
    assert result.exit_code == 2, result.output
    assert "impact not shown: cannot open the DuckDB warehouse" in result.stdout
    assert "would enter" not in result.stdout


def test_an_unreachable_postgres_does_not_fail_the_plan(tmp_path):
    project = ImpactProject(tmp_path / "project", "postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    document = project.plan_json()
    assert "impact" not in change(document, "audience.buyers")
    human = project.run("plan")
    assert human.exit_code == 0
    assert "impact not shown: cannot" in human.stdout and "127.0.0.1" in human.stdout
