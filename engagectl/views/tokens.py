"""Access tokens for people: the one-time display of a new token, and the list (never secrets)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from engagectl.server.tokens import AccessToken, IssuedToken


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def render_issued(issued: IssuedToken) -> None:
    console = _console()
    console.print(f"Created access token {issued.token.token_id} for space {issued.token.space}.")
    console.print("It is shown once; store it now (it is kept only as a hash):")
    console.print(issued.secret)


def render_tokens(tokens: list[AccessToken]) -> None:
    console = _console()
    if not tokens:
        console.print("No access tokens. Create one with `engagectl tokens create`.")
        return
    table = Table(show_edge=False)
    for column in ("id", "space", "name", "created", "status"):
        table.add_column(column)
    for token in tokens:
        status = f"revoked {token.to_json()['revoked_at']}" if token.revoked else "active"
        table.add_row(token.token_id, token.space, token.name or "", token.to_json()["created_at"], status)
    console.print(table)


def render_revoked(token: AccessToken) -> None:
    _console().print(f"Revoked access token {token.token_id} ({token.space}).")
