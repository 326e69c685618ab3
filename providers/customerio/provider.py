"""`customerio`: POST `{base_url}/api/v2/batch` with `{"batch": [person actions]}`.

Auth: HTTP basic `site_id:api_key`. Base URL `https://track.customer.io` (EU: `track-eu`).
Engage paces Customer.io at 30 requests a second; 100 actions a request stays under the
500 KB request limit. People are identified by `id` (userId), else `email`.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from engagectl.sync.provider import (
    IDENTIFY,
    TRACK,
    Capabilities,
    Delivery,
    HttpProvider,
    json_request,
    message_email,
    template_environment,
)

TEMPLATES = template_environment(Path(__file__).parent)


def identifiers(message: dict) -> dict[str, str]:
    if message.get("userId"):
        return {"id": message["userId"]}
    email = message_email(message)
    if email:
        return {"email": email}
    return {"cio_id": message.get("anonymousId", "")}


class CustomerIoProvider(HttpProvider):
    name = "customerio"
    capabilities = Capabilities(destination_type="event", identify=True, track=True, alias=False,
                                batch_size=100, rate_limit=30, auth="basic auth: site_id:api_key")
    required_settings = ("site_id", "api_key")
    default_base_url = "https://track.customer.io"

    def requests(self, batch: list[Delivery]) -> list[httpx.Request]:
        actions = []
        for delivery in batch:
            message = delivery.payload
            if delivery.kind == IDENTIFY:
                text = TEMPLATES.get_template("identify.json.j2").render(
                    identifiers=identifiers(message), traits=message.get("traits", {}))
            elif delivery.kind == TRACK:
                text = TEMPLATES.get_template("event.json.j2").render(
                    identifiers=identifiers(message), message_id=delivery.message_id, event=message["event"],
                    properties=message.get("properties", {}))
            else:
                continue
            actions.append(json.loads(text))
        auth = (str(self.settings["site_id"]), str(self.settings["api_key"]))
        return [json_request("POST", f"{self.base_url}/api/v2/batch", {"batch": actions}, auth=auth)]
