"""`mixpanel`: Identify → `POST /engage#profile-batch-update` (`$set`), Track and Alias →
`POST /import?strict=1` with `$insert_id` = messageId (Mixpanel's dedup key, so retries are
safe). Alias on merge is the `$create_alias` event (Original ID Merge).

Auth: the project `token` in every record; `/import` also takes basic auth with the
`api_secret` (or a service account `username`/`secret` with `project_id`). At most 2,000
records a request.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from engagectl.sync.provider import ALIAS, IDENTIFY, TRACK, Capabilities, Delivery, HttpProvider, json_request, message_email


def distinct_id(message: dict) -> str:
    return message.get("userId") or message.get("anonymousId") or message_email(message) or ""


def epoch_ms(timestamp: str | None) -> int:
    if not timestamp:
        return 0
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


class MixpanelProvider(HttpProvider):
    name = "mixpanel"
    capabilities = Capabilities(destination_type="event", identify=True, track=True, alias=True,
                                batch_size=2000, auth="project token; /import: basic auth api_secret")
    required_settings = ("token",)
    default_base_url = "https://api.mixpanel.com"

    def import_auth(self) -> tuple[str, str] | None:
        if self.settings.get("username"):
            return str(self.settings["username"]), str(self.settings.get("secret", ""))
        if self.settings.get("api_secret"):
            return str(self.settings["api_secret"]), ""
        return None

    def requests(self, batch: list[Delivery]) -> list[httpx.Request]:
        token = self.settings["token"]
        profiles, events = [], []
        for delivery in batch:
            message = delivery.payload
            if delivery.kind == IDENTIFY:
                profiles.append({"$token": token, "$distinct_id": distinct_id(message), "$set": message.get("traits", {})})
            elif delivery.kind == TRACK:
                properties = {**message.get("properties", {}), "distinct_id": distinct_id(message),
                              "$insert_id": delivery.message_id, "time": epoch_ms(message.get("timestamp")),
                              "token": token}
                events.append({"event": message["event"], "properties": properties})
            elif delivery.kind == ALIAS:
                events.append({"event": "$create_alias", "properties": {
                    "distinct_id": message["userId"], "alias": message["previousId"], "$insert_id": delivery.message_id,
                    "time": epoch_ms(message.get("timestamp")), "token": token}})
        requests = []
        if profiles:
            requests.append(json_request("POST", f"{self.base_url}/engage#profile-batch-update", profiles))
        if events:
            params = {"strict": "1"}
            if self.settings.get("project_id"):
                params["project_id"] = str(self.settings["project_id"])
            requests.append(json_request("POST", f"{self.base_url}/import", events, auth=self.import_auth(), params=params))
        return requests
