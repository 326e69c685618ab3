"""`segment`: POST `{base_url}/v1/batch` with `{"batch": [...], "sentAt": …}`.

Auth is HTTP basic with the write key as user and an empty password. Segment accepts up to
500 KB a batch and 32 KB a message; 100 messages a request keeps well inside that.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from engagectl.sync.provider import Capabilities, Delivery, HttpProvider, json_request


class SegmentProvider(HttpProvider):
    name = "segment"
    capabilities = Capabilities(destination_type="event", identify=True, track=True, alias=True,
                                batch_size=100, auth="basic auth: write_key as user, empty password")
    required_settings = ("write_key",)
    default_base_url = "https://api.segment.io"

    def requests(self, batch: list[Delivery]) -> list[httpx.Request]:
        sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = '{"batch":[' + ",".join(d.payload_json for d in batch) + f'],"sentAt":"{sent_at}"}}'
        return [json_request("POST", f"{self.base_url}/v1/batch", body, auth=(str(self.settings["write_key"]), ""))]
