"""Planning 2,000 audiences: read the project, read the state, diff (issue 2: under 2 s).

The project is written to a temporary folder with 2,000 audiences (a tenth of them changed
since the last apply, a few added and removed) and its state in SQLite; the figure is the time
of what `engagectl plan --json` does: load and validate the files, lock and read the state,
plan, and build the JSON document.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.figures import Figure

TARGET_SECONDS = 2.0
SIZES = {"small": 200, "full": 2000}

_AUDIENCE = """\
kind: audience
key: audience_{n}
name: Audience {n}
where:
  all:
    - event: Order Completed
      where: {{property: revenue, gt: {revenue}}}
      within: 90d
      count: {{gte: 3}}
    - trait: plan
      one_of: [pro, enterprise]
{extra}destinations: [hooks]
"""


def _audience(n: int, revenue: int) -> str:
    # short chains of audiences that build on each other, like real projects
    extra = f"    - not: {{audience: audience_{n - 1}}}\n" if n % 20 else ""
    return _AUDIENCE.format(n=n, revenue=revenue, extra=extra)


def write_project(directory: Path, count: int, revenue: int = 100) -> None:
    (directory / "audiences").mkdir(parents=True, exist_ok=True)
    (directory / "engage.yaml").write_text("space: spa_bench\nstate: sqlite:///.engage/state.db\n")
    (directory / "destinations.yaml").write_text(
        "kind: destination\nkey: hooks\nprovider: webhook\nsettings: {url: https://hooks.example.com}\n")
    for n in range(count):
        (directory / "audiences" / f"audience_{n}.yaml").write_text(_audience(n, revenue))


def plan_once(directory: Path) -> dict:
    """What `engagectl plan --json` computes, minus printing."""
    from engagectl.cli.plan import open_project_state
    from engagectl.config.loader import read_project
    from engagectl.plan import plan_project

    project = read_project(directory)
    store = open_project_state(project.directory, project.settings)
    try:
        with store.lock("plan", 10):
            snapshot = store.snapshot()
    finally:
        store.close()
    return plan_project(project, snapshot).to_json()


def run(scale: str) -> list[Figure]:
    from engagectl.cli.plan import open_project_state
    from engagectl.config.loader import read_project
    from engagectl.plan import apply_plan, plan_project

    count = SIZES.get(scale, SIZES["full"])
    with tempfile.TemporaryDirectory(prefix="engagectl-bench-plan-") as tmp:
        directory = Path(tmp)
        write_project(directory, count)
        project = read_project(directory)
        store = open_project_state(directory, project.settings)
        with store.lock("apply", 10):
            apply_plan(store, plan_project(project, store.snapshot()), directory)
        store.close()
        # a tenth changed, a few removed, a few added
        for n in range(0, count, 10):
            (directory / "audiences" / f"audience_{n}.yaml").write_text(_audience(n, 500))
        started, cpu_started = time.perf_counter(), time.process_time()
        document = plan_once(directory)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert document["summary"]["update"] == len(range(0, count, 10)), document["summary"]
        diff_seconds = _state_and_diff_seconds(directory)
    note = f"{count} audiences, {document['summary']['update']} updated; {cpu:.2f} s of CPU"
    if scale != "full":
        note += "; small scale, not the issue's size"
    return [
        Figure(name=f"plan {count} audiences (load + state + diff)", value=elapsed, unit="s",
               baseline=TARGET_SECONDS, baseline_name="the 2 s target", target_ratio=1.0, note=note),
        Figure(name=f"plan {count} audiences (state + diff only)", value=diff_seconds, unit="s",
               baseline=TARGET_SECONDS, baseline_name="the 2 s target",
               note="the planner's own share, files already read"),
    ]


def _state_and_diff_seconds(directory: Path) -> float:
    from engagectl.cli.plan import open_project_state
    from engagectl.config.loader import read_project
    from engagectl.plan import plan_project

    project = read_project(directory)
    started = time.perf_counter()
    store = open_project_state(project.directory, project.settings)
    try:
        with store.lock("plan", 10):
            snapshot = store.snapshot()
    finally:
        store.close()
    plan_project(project, snapshot).to_json()
    return time.perf_counter() - started
