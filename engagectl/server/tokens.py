"""Profile API access tokens: created once, stored hashed in state, scoped to a space, revocable.

A token reads `<id>.<secret>`. The id finds the row; the secret is checked against the stored
sha256 digest with a constant-time comparison. Tokens are 256 bits of randomness, so a plain
(unsalted, fast) hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, String, Table, select, update
from sqlalchemy.engine import Engine

from engagectl.diagnostics import EngageError
from engagectl.state.schema import metadata

TOKEN_ID_PREFIX = "tok_"
# How long a server process may answer from a token row it has read: a revocation made by another
# process (`engagectl tokens revoke`) applies within this time; one made here applies at once.
TOKEN_CACHE_SECONDS = 1.0

tokens_table = Table(
    "tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("space", String(255), nullable=False),
    Column("name", String(255), nullable=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


class TokenNotFound(EngageError):
    def __init__(self, token_id: str):
        super().__init__(f"no access token {token_id!r}: `engagectl tokens list` shows the ids")


@dataclass(frozen=True)
class AccessToken:
    """A token as stored: never the secret itself."""

    token_id: str
    space: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_json(self) -> dict:
        return {
            "id": self.token_id,
            "space": self.space,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: the only moment the secret is known."""

    token: AccessToken
    secret: str

    def to_json(self) -> dict:
        body = self.token.to_json()
        body.pop("revoked_at")
        return {"id": body["id"], "token": self.secret, "space": body["space"], "name": body["name"],
                "created_at": body["created_at"]}


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    """The tokens table of one state database."""

    def __init__(self, engine: Engine, cache_seconds: float = TOKEN_CACHE_SECONDS):
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._rows: dict[str, tuple[float, object]] = {}  # token id -> (read at, row or None)
        # Only our own table: the rest of the state schema belongs to the state package.
        metadata.create_all(engine, tables=[tokens_table], checkfirst=True)

    @classmethod
    def open(cls, state_url: str, project_dir: str = ".") -> "TokenStore":
        """The tokens of the state at `state_url` (its schema and tables created when missing)."""
        from engagectl.state import open_state

        return cls(open_state(state_url, project_dir).engine)

    def create(self, space: str, name: str | None = None) -> IssuedToken:
        token_id = TOKEN_ID_PREFIX + secrets.token_hex(8)
        secret = f"{token_id}.{secrets.token_urlsafe(32)}"
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(tokens_table.insert().values(
                token_id=token_id, space=space, name=name, token_hash=_digest(secret), created_at=now,
            ))
        return IssuedToken(AccessToken(token_id, space, name, now), secret)

    def list(self) -> list[AccessToken]:
        query = select(tokens_table).order_by(tokens_table.c.created_at, tokens_table.c.token_id)
        with self.engine.connect() as conn:
            return [_row_to_token(row) for row in conn.execute(query)]

    def revoke(self, token_id: str) -> AccessToken:
        with self.engine.begin() as conn:
            row = conn.execute(select(tokens_table).where(tokens_table.c.token_id == token_id)).first()
            if row is None:
                raise TokenNotFound(token_id)
            if row.revoked_at is None:
                conn.execute(update(tokens_table).where(tokens_table.c.token_id == token_id)
                             .values(revoked_at=datetime.now(timezone.utc)))
            row = conn.execute(select(tokens_table).where(tokens_table.c.token_id == token_id)).one()
        self._rows.pop(token_id, None)
        return _row_to_token(row)

    def authenticate(self, presented: str) -> AccessToken | None:
        """The live token `presented` is, or None (unknown, malformed, wrong secret, revoked)."""
        token_id, dot, _rest = presented.partition(".")
        if not dot or not token_id.startswith(TOKEN_ID_PREFIX):
            return None
        row = self._row(token_id)
        if row is None:
            return None
        if not hmac.compare_digest(row.token_hash, _digest(presented)):
            return None
        token = _row_to_token(row)
        return None if token.revoked else token


    def _row(self, token_id: str):
        """The stored row of a token id, read at most once per `cache_seconds`."""
        now = time.monotonic()
        cached = self._rows.get(token_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        query = select(tokens_table).where(tokens_table.c.token_id == token_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if len(self._rows) > 10_000:  # ids are guessable prefixes of junk too: keep the cache bounded
            self._rows.clear()
        self._rows[token_id] = (now, row)
        return row


def _row_to_token(row) -> AccessToken:
    return AccessToken(
        token_id=row.token_id, space=row.space, name=row.name,
        created_at=row.created_at, revoked_at=row.revoked_at,
    )
