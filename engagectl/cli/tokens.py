"""`engagectl tokens create | list | revoke`: Profile API access tokens (shown once, stored hashed)."""

from __future__ import annotations

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, pass_cli


def _store(cli: CliContext):
    from engagectl.server.tokens import TokenStore

    project = cli.load_project(check=False)
    return project, TokenStore.open(project.settings.state, str(project.directory))


@click.group("tokens")
def tokens_group() -> None:
    """Profile API access tokens: create (shown once), list, revoke."""


@tokens_group.command("create")
@click.option("--space", default=None, help="The space the token may read (default: engage.yaml `space`).")
@click.option("--name", default=None, help="A label to recognise the token by.")
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "token", "space", "name", "created_at"}.')
@pass_cli
@handle_errors
def create_command(cli: CliContext, space: str | None, name: str | None, as_json: bool) -> None:
    """Create an access token; it is printed once and stored only as a hash."""
    from engagectl.views.tokens import render_issued

    project, store = _store(cli)
    issued = store.create(space or project.settings.space, name)
    if as_json:
        emit_json(issued.to_json())
    else:
        render_issued(issued)


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON (never their secrets).")
@pass_cli
@handle_errors
def list_command(cli: CliContext, as_json: bool) -> None:
    """List access tokens (ids, spaces, names, status; never the tokens)."""
    from engagectl.views.tokens import render_tokens

    _project, store = _store(cli)
    tokens = store.list()
    if as_json:
        emit_json({"tokens": [token.to_json() for token in tokens]})
    else:
        render_tokens(tokens)


@tokens_group.command("revoke")
@click.argument("token_id")
@click.option("--json", "as_json", is_flag=True, help="Print the revoked token as JSON.")
@pass_cli
@handle_errors
def revoke_command(cli: CliContext, token_id: str, as_json: bool) -> None:
    """Revoke the token TOKEN_ID: running servers refuse it within a second."""
    from engagectl.views.tokens import render_revoked

    _project, store = _store(cli)
    token = store.revoke(token_id)
    if as_json:
        emit_json(token.to_json())
    else:
        render_revoked(token)


def register(group: click.Group) -> None:
    group.add_command(tokens_group)
