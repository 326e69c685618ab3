"""`webhook`: POST `{"type": "engage.batch", "data": [message, …]}` to `settings.url`.

Signed per Standard Webhooks: `webhook-id` (stable for a batch across retries and resumes, the
receiver's idempotency key), `webhook-timestamp` (unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`; a `whsec_` secret is base64).
Extra headers come from `settings.headers`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from engagectl.sync.provider import Capabilities, Delivery, HttpProvider


def signing_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` header value (space-separated when several secrets rotate)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def batch_id(batch: list[Delivery]) -> str:
    digest = hashlib.sha256("\n".join(d.message_id for d in batch).encode()).hexdigest()
    return f"msg_{digest[:32]}"


class WebhookProvider(HttpProvider):
    name = "webhook"
    capabilities = Capabilities(destination_type="event", identify=True, track=True, alias=True,
                                batch_size=100, auth="Standard Webhooks HMAC-SHA256 (settings.secret)")
    required_settings = ("url",)

    def requests(self, batch: list[Delivery]) -> list[httpx.Request]:
        # Stored payloads are JSON already: joining them avoids re-encoding a million messages.
        body = ('{"type":"engage.batch","data":[' + ",".join(d.payload_json for d in batch) + "]}").encode()
        webhook_id = batch_id(batch)
        timestamp = str(int(time.time()))
        headers = {str(k): str(v) for k, v in (self.settings.get("headers") or {}).items()}
        headers.update({"content-type": "application/json", "webhook-id": webhook_id,
                        "webhook-timestamp": timestamp})
        secrets = self.settings.get("secret")
        if secrets:
            secrets = [secrets] if isinstance(secrets, str) else list(secrets)
            headers["webhook-signature"] = " ".join(sign(s, webhook_id, timestamp, body) for s in secrets)
        return [httpx.Request("POST", str(self.settings["url"]), content=body, headers=headers)]
