"""`engagectl state list | show KEY | unlock ID`: what the state holds, and releasing a stuck lock."""

from __future__ import annotations

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, pass_cli
from engagectl.cli.plan import open_project_state, project_settings


def _open(cli: CliContext):
    root, settings = project_settings(cli.project_dir)
    return open_project_state(root, settings)


@click.group("state")
def state_group() -> None:
    """Inspect the applied state; release a stuck lock."""


@state_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def list_command(cli: CliContext, as_json: bool) -> None:
    """Every applied resource: address, kind, hash, serial applied, protect."""
    from engagectl.views.state import render_state_list, state_list_json

    store = _open(cli)
    try:
        snapshot = store.snapshot()
    finally:
        store.close()
    emit_json(state_list_json(snapshot)) if as_json else render_state_list(snapshot)


@state_group.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def show_command(cli: CliContext, key: str, as_json: bool) -> None:
    """One resource's canonical spec and metadata; KEY is a key or an address (audience.KEY)."""
    from engagectl.views.state import render_resource, resource_json

    store = _open(cli)
    try:
        snapshot = store.snapshot()
    finally:
        store.close()
    resource = find_resource(snapshot, key)
    emit_json(resource_json(resource, with_spec=True)) if as_json else render_resource(resource)


def find_resource(snapshot, key: str):
    from engagectl.state import StateNotFound

    if key in snapshot.resources:
        return snapshot.resources[key]
    matches = [r for r in snapshot.resources.values() if r.key == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise StateNotFound(f"{key} is the key of several resources ({', '.join(r.address for r in matches)}): "
                            f"give the address")
    bare = key.split(".", 1)[-1]
    retired = [t for t in snapshot.tombstones.values() if t.key == bare]
    if retired:
        t = retired[0]
        raise StateNotFound(f"{key} is not in the state: {t.address} was retired at serial {t.serial} ({t.reason})")
    raise StateNotFound(f"{key} is not in the state (see `engagectl state list`)")


@state_group.command("unlock")
@click.argument("lock_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the released lock as JSON.")
@pass_cli
@handle_errors
def unlock_command(cli: CliContext, lock_id: str, as_json: bool) -> None:
    """Release a stuck state lock by its id (named in the error of the writer that waited)."""
    from engagectl.views.state import lock_json, render_unlocked

    store = _open(cli)
    try:
        lock = store.unlock(lock_id)
    finally:
        store.close()
    emit_json(lock_json(lock)) if as_json else render_unlocked(lock)


def register(group: click.Group) -> None:
    group.add_command(state_group)
