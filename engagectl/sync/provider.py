"""The interface every destination provider implements, and what it shares with the engine.

A provider declares its capabilities (event or list destination, which calls it takes, batch
size, rate limit, how it authenticates) and turns a batch of deliveries into requests; it
classifies the answers into Segment's error classes. The engine owns the queue, batching,
retries, pauses and the audit log, so adding a provider never touches the engine.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
import jinja2

from engagectl.sync.clock import SystemClock
from engagectl.sync.retry import DISCARD, OK, PAUSE, RETRY, SPLIT, classify_status, parse_retry_after

# The message kinds a delivery can carry.
IDENTIFY, TRACK, ALIAS, LIST_ADD, LIST_REMOVE = "identify", "track", "alias", "list_add", "list_remove"


@dataclass(frozen=True)
class Capabilities:
    """What a provider accepts and how the engine must pace it."""

    destination_type: Literal["event", "list"]
    identify: bool = False
    track: bool = False
    alias: bool = False
    batch_size: int = 100  # deliveries per request, the destination's documented limit
    rate_limit: float | None = None  # requests per second, None for no limit
    auth: str = ""  # how requests are signed or authenticated, for people reading `--help`


@dataclass(slots=True)
class Delivery:
    """One queued message as a provider sees it; `payload_json` is sent verbatim where possible."""

    seq: int
    message_id: str
    kind: str
    payload_json: str
    _parsed: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def payload(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = json.loads(self.payload_json)
        return self._parsed


@dataclass
class Outcome:
    """The destination's answer to one batch, in Segment's error classes."""

    error_class: str  # delivered | awaiting-retry | discarded | paused | split
    code: str | None = None  # HTTP status or transport error (ETIMEDOUT, ECONNREFUSED, …)
    detail: str = ""
    retry_after: float | None = None  # seconds, from `Retry-After`

    @property
    def ok(self) -> bool:
        return self.error_class == OK


DELIVERED = Outcome(OK, "200")


class ProviderSettingsError(ValueError):
    """A destination's settings are missing something its provider needs."""


class Provider:
    """Base of every provider. Subclasses set `name` and `capabilities` and implement `send`."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    required_settings: ClassVar[tuple[str, ...]] = ()
    default_concurrency: ClassVar[int] = 1

    def __init__(self, destination: str, settings: dict[str, Any], *, space: str = "",
                 project_dir: Path | None = None, http: httpx.Client | None = None):
        missing = [name for name in self.required_settings if settings.get(name) in (None, "")]
        if missing:
            raise ProviderSettingsError(
                f"destination {destination} ({self.name}) needs settings: {', '.join(missing)}"
            )
        self.destination = destination
        self.settings = settings
        self.space = space
        self.project_dir = project_dir or Path(".")
        self._http = http

    @property
    def batch_size(self) -> int:
        return int(self.settings.get("batch_size") or self.capabilities.batch_size)

    @property
    def concurrency(self) -> int:
        """Batches in flight at once; 1 keeps a provider's writes strictly in queue order."""
        return int(self.settings.get("concurrency") or self.default_concurrency)

    @property
    def rate_limit(self) -> float | None:
        value = self.settings.get("rate_limit", self.capabilities.rate_limit)
        return float(value) if value else None

    def send(self, batch: list[Delivery]) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


class HttpProvider(Provider):
    """A provider that answers each batch with HTTP requests to a configurable base URL."""

    default_base_url: ClassVar[str] = ""
    default_timeout: ClassVar[float] = 5.0  # Segment treats a webhook slower than 5 s as a timeout
    default_concurrency = 2  # one batch on the wire while the next is read from the queue

    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url") or self.settings.get("endpoint") or self.default_base_url).rstrip("/")

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            timeout = float(self.settings.get("timeout", self.default_timeout))
            self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        return self._http

    def requests(self, batch: list[Delivery]) -> list[httpx.Request]:
        """The requests that deliver a batch, in order."""
        raise NotImplementedError

    def send(self, batch: list[Delivery]) -> Outcome:
        for request in self.requests(batch):
            outcome = self.perform(request)
            if not outcome.ok:
                return outcome
        return DELIVERED

    def perform(self, request: httpx.Request) -> Outcome:
        try:
            response = self.http.send(request)
        except httpx.HTTPError as exc:
            return transport_outcome(exc)
        return self.classify(response)

    def classify(self, response: httpx.Response) -> Outcome:
        """Segment's classes by status; providers override to read their error bodies."""
        error_class = classify_status(response.status_code)
        retry_after = None
        if error_class == RETRY:
            retry_after = parse_retry_after(response.headers.get("retry-after"), SystemClock().now())
        detail = "" if error_class == OK else response.text[:500]
        return Outcome(error_class, str(response.status_code), detail, retry_after)


def transport_outcome(exc: httpx.HTTPError) -> Outcome:
    """Connection failures and timeouts are retried, named as Segment names them."""
    if isinstance(exc, httpx.TimeoutException):
        code = "ETIMEDOUT"
    elif isinstance(exc, httpx.ConnectError):
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        code = "ENOTFOUND" if isinstance(cause, socket.gaierror) or "name" in str(exc).lower() else "ECONNREFUSED"
    elif isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        code = "ECONNRESET"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        return Outcome(DISCARD, "INVALID_SETTINGS", str(exc))
    else:
        code = type(exc).__name__
    return Outcome(RETRY, code, str(exc) or type(exc).__name__)


def message_email(message: dict) -> str | None:
    """A Segment message's email: `traits.email` on an Identify, `context.traits.email` on a Track
    (segment-engage-spec.md §5.2)."""
    traits = message.get("traits") or {}
    context_traits = (message.get("context") or {}).get("traits") or {}
    return traits.get("email") or context_traits.get("email")


def json_request(method: str, url: str, body: Any, headers: dict[str, str] | None = None,
                 auth: tuple[str, str] | None = None, params: dict | None = None) -> httpx.Request:
    """A JSON request, with basic auth when given."""
    content = body if isinstance(body, (bytes, str)) else json.dumps(body, separators=(",", ":"))
    all_headers = {"content-type": "application/json", **(headers or {})}
    if auth is not None:
        all_headers["authorization"] = httpx.BasicAuth(*auth)._auth_header
    return httpx.Request(method, url, content=content, headers=all_headers, params=params)


def template_environment(package_dir: Path) -> jinja2.Environment:
    """Jinja2 templates of a provider's payloads; `tojson` renders values as JSON."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(package_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


__all__ = [
    "ALIAS",
    "DELIVERED",
    "DISCARD",
    "IDENTIFY",
    "LIST_ADD",
    "LIST_REMOVE",
    "OK",
    "PAUSE",
    "RETRY",
    "SPLIT",
    "TRACK",
    "Capabilities",
    "Delivery",
    "HttpProvider",
    "Outcome",
    "Provider",
    "ProviderSettingsError",
    "json_request",
    "template_environment",
    "transport_outcome",
]
