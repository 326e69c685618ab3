"""Locks: a second writer waits, then fails naming the holder; a stuck lock can be released."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# A writer that takes the lock and dies without releasing it (a crashed apply).
CRASHING_HOLDER = """
import os, sys
from engagectl.state import open_state
store = open_state(sys.argv[1], sys.argv[2])
with store.lock("apply", 0) as lock:
    print(lock.id, flush=True)
    os._exit(0)
"""

# `engagectl` whose post-apply work (the warehouse run) takes a while, holding the state lock.
SLOW_APPLY = """
import sys, time
import engagectl.cli.plan as plan_cli

def slow_run(*args, **kwargs):
    time.sleep(float(sys.argv[1]))

plan_cli.after_apply = slow_run
from engagectl.cli import main
main(sys.argv[2:], prog_name="engagectl")
"""


def test_a_stuck_lock_blocks_writers_naming_its_holder_until_unlocked(state_project, tmp_path):
    state_project.audience("a")
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_HOLDER)
    crashed = subprocess.run([sys.executable, str(script), state_project.state_url, str(state_project.directory)],
                             capture_output=True, text=True, check=True)
    lock_id = crashed.stdout.strip()

    blocked = state_project.run("apply", "--auto-approve", "--lock-timeout", "0.3")
    assert blocked.exit_code == 1
    assert "locked by" in blocked.stderr and lock_id in blocked.stderr
    assert f"engagectl state unlock {lock_id}" in blocked.stderr
    assert state_project.run("plan", "--lock-timeout", "0").exit_code == 1
    assert state_project.store().snapshot().is_empty

    released = state_project.run("state", "unlock", lock_id)
    assert released.exit_code == 0 and lock_id in released.stdout and "apply" in released.stdout
    assert state_project.run("state", "unlock", lock_id).exit_code == 1
    assert state_project.run("apply", "--auto-approve", "--lock-timeout", "0").exit_code == 0
    assert state_project.store().locks() == []


def test_two_applies_at_once_one_applies_the_other_fails_naming_the_holder(state_project, tmp_path):
    state_project.audience("a")
    assert state_project.run("apply", "--auto-approve").exit_code == 0
    state_project.audience("b")
    script = tmp_path / "slow_apply.py"
    script.write_text(textwrap.dedent(SLOW_APPLY))
    command = [sys.executable, str(script), "4", "-C", str(state_project.directory), "apply", "--auto-approve",
               "--lock-timeout", "1"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "USER": f"writer{n}"}) for n in (1, 2)]
    outcomes = [(p.pid, p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in processes]
    for process in processes:
        process.stdout.close()
        process.stderr.close()

    assert sorted(code for _, code, _, _ in outcomes) == [0, 1], outcomes
    (winner_pid, _, winner_out, _), = [o for o in outcomes if o[1] == 0]
    (_, _, _, loser_err), = [o for o in outcomes if o[1] == 1]
    assert "Apply complete!" in winner_out
    assert "locked by" in loser_err and f"pid {winner_pid}" in loser_err
    snapshot = state_project.store().snapshot()
    assert snapshot.serial == 2 and "audience.b" in snapshot.resources
    assert state_project.store().locks() == []
