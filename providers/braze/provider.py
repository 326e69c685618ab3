"""`braze`: POST `{endpoint}/users/track` with `{"attributes": [...], "events": [...]}`.

Auth: `Authorization: Bearer <api_key>`. At most 75 objects (attributes and events combined)
a request; Engage paces Braze at 100 requests a second. Each object is keyed by
`external_id` (userId), else `email`, else a `user_alias` for an anonymous id.
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


def braze_identity(message: dict) -> tuple[str, object]:
    if message.get("userId"):
        return "external_id", message["userId"]
    email = message_email(message)
    if email:
        return "email", email
    return "user_alias", {"alias_name": message.get("anonymousId"), "alias_label": "anonymous_id"}


class BrazeProvider(HttpProvider):
    name = "braze"
    capabilities = Capabilities(destination_type="event", identify=True, track=True, alias=False,
                                batch_size=75, rate_limit=100, auth="Authorization: Bearer <REST API key>")
    required_settings = ("endpoint", "api_key")

    def requests(self, batch: list[Delivery]) -> list[httpx.Request]:
        attributes, events = [], []
        for delivery in batch:
            message = delivery.payload
            id_field, id_value = braze_identity(message)
            if delivery.kind == IDENTIFY:
                traits = {k: v for k, v in message.get("traits", {}).items() if k != id_field}
                text = TEMPLATES.get_template("attribute.json.j2").render(id_field=id_field, id_value=id_value, traits=traits)
                attributes.append("{" + text + "}")
            elif delivery.kind == TRACK:
                text = TEMPLATES.get_template("event.json.j2").render(
                    id_field=id_field, id_value=id_value, event=message["event"],
                    time=message.get("timestamp"), properties=message.get("properties", {}))
                events.append("{" + text + "}")
        body = {"attributes": [json.loads(a) for a in attributes], "events": [json.loads(e) for e in events]}
        headers = {"authorization": f"Bearer {self.settings['api_key']}"}
        return [json_request("POST", f"{self.base_url}/users/track", body, headers=headers)]
