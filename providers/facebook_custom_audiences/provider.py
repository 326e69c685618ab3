"""`facebook_custom_audiences`: `POST` (add) / `DELETE` (remove) `{base_url}/{audience_id}/users`.

Body: `{"payload": {"schema": ["EXTERN_ID", "EMAIL", "PHONE"], "data": [[…], …]}}`; emails and
phones are SHA-256 of the normalised value, EXTERN_ID (the userId) is sent as is. At most
10,000 rows a request. `settings.audience_ids` maps an audience key to its Custom Audience id;
`access_token` is a system-user token with `ads_management`.

Meta's error codes decide the class: 190/200/294 (token, permission) pause the destination;
80003/17/613/2650 are retried; 105 (too many parameters) splits the batch; 1487301/1487366
(audience not shared or deleted) are discarded.
"""

from __future__ import annotations

import json

import httpx

from engagectl.sync.provider import (
    DISCARD,
    PAUSE,
    RETRY,
    SPLIT,
    Capabilities,
    Delivery,
    HttpProvider,
    Outcome,
    json_request,
)
from providers.lists import chunks, normalise_email, normalise_phone, runs, sha256

SCHEMA = ["EXTERN_ID", "EMAIL", "PHONE"]
MAX_ROWS = 10_000
CODE_CLASSES = {190: PAUSE, 200: PAUSE, 294: PAUSE, 80003: RETRY, 17: RETRY, 613: RETRY, 2650: RETRY,
                105: SPLIT, 1487301: DISCARD, 1487366: DISCARD}


def member_rows(identifiers: dict[str, list[str]]) -> list[list[str]]:
    """One row per email (or phone) value; the userId rides along as EXTERN_ID."""
    extern = (identifiers.get("user_id") or [""])[0]
    emails = [sha256(normalise_email(e)) for e in identifiers.get("email", [])]
    phones = [sha256(normalise_phone(p)) for p in identifiers.get("phone", [])]
    rows = [[extern, email, phones[0] if phones else ""] for email in emails]
    rows += [[extern, "", phone] for phone in phones[1:] if emails] + [[extern, "", p] for p in phones if not emails]
    if not rows and extern:
        rows.append([extern, "", ""])
    return rows


class FacebookCustomAudiencesProvider(HttpProvider):
    name = "facebook_custom_audiences"
    capabilities = Capabilities(destination_type="list", batch_size=MAX_ROWS, auth="access_token (ads_management)")
    required_settings = ("access_token", "audience_ids")
    default_base_url = "https://graph.facebook.com/v25.0"

    def send(self, batch: list[Delivery]) -> Outcome:
        for (audience_key, action), group in runs(batch):
            audience_id = (self.settings.get("audience_ids") or {}).get(audience_key)
            if not audience_id:
                return Outcome(DISCARD, "INVALID_SETTINGS", f"no Custom Audience id for {audience_key} in settings.audience_ids")
            rows = [row for d in group for row in member_rows(d.payload["identifiers"])]
            for chunk in chunks(rows, MAX_ROWS):
                if not chunk:
                    continue
                body = {"payload": {"schema": SCHEMA, "data": chunk}}
                method = "POST" if action == "add" else "DELETE"
                request = json_request(method, f"{self.base_url}/{audience_id}/users", body,
                                       params={"access_token": str(self.settings["access_token"])})
                outcome = self.perform(request)
                if not outcome.ok:
                    return outcome
        return Outcome("delivered", "200")

    def classify(self, response: httpx.Response) -> Outcome:
        outcome = super().classify(response)
        if outcome.ok:
            return outcome
        try:
            code = int(json.loads(response.text)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return outcome
        error_class = CODE_CLASSES.get(code, outcome.error_class)
        return Outcome(error_class, f"{response.status_code}/{code}", outcome.detail, outcome.retry_after)
