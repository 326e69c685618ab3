"""`google_data_manager`: `POST {base_url}/audienceMembers:ingest` (add) and `:remove`.

Body: `destinations` (the operating account and the user list of the audience),
`audienceMembers` (≤ 10,000 a request, ≤ 10 identifiers each, SHA-256 hex of the normalised
email or E.164 phone), `encoding: HEX`, and on ingest `consent`. Auth: an OAuth access token
with the `datamanager` scope as `Authorization: Bearer`. Quota: 300 requests a minute.
`settings`: `access_token`, `operating_account: {account_type, account_id}`, `audience_ids`
(audience key → user list id).
"""

from __future__ import annotations

from engagectl.sync.provider import DISCARD, Capabilities, Delivery, HttpProvider, Outcome, json_request
from providers.lists import chunks, normalise_email, normalise_phone, runs, sha256

MAX_MEMBERS = 10_000
MAX_IDENTIFIERS = 10


def audience_member(identifiers: dict[str, list[str]]) -> dict | None:
    found = [{"emailAddress": sha256(normalise_email(e))} for e in identifiers.get("email", [])]
    found += [{"phoneNumber": sha256(normalise_phone(p, plus=True))} for p in identifiers.get("phone", [])]
    if not found:
        return None
    return {"userData": {"userIdentifiers": found[:MAX_IDENTIFIERS]}}


class GoogleDataManagerProvider(HttpProvider):
    name = "google_data_manager"
    capabilities = Capabilities(destination_type="list", batch_size=MAX_MEMBERS, rate_limit=5,
                                auth="Authorization: Bearer <OAuth token, datamanager scope>")
    required_settings = ("access_token", "operating_account", "audience_ids")
    default_base_url = "https://datamanager.googleapis.com/v1"

    def send(self, batch: list[Delivery]) -> Outcome:
        account = self.settings["operating_account"]
        for (audience_key, action), group in runs(batch):
            list_id = (self.settings.get("audience_ids") or {}).get(audience_key)
            if not list_id:
                return Outcome(DISCARD, "INVALID_SETTINGS", f"no user list id for {audience_key} in settings.audience_ids")
            members = [m for m in (audience_member(d.payload["identifiers"]) for d in group) if m is not None]
            for chunk in chunks(members, MAX_MEMBERS):
                if not chunk:
                    continue
                body = {
                    "destinations": [{"operatingAccount": {"accountType": account.get("account_type", "GOOGLE_ADS"),
                                                           "accountId": str(account["account_id"])},
                                      "productDestinationId": str(list_id)}],
                    "audienceMembers": chunk,
                    "encoding": "HEX",
                }
                if action == "add":
                    body["consent"] = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
                verb = "ingest" if action == "add" else "remove"
                headers = {"authorization": f"Bearer {self.settings['access_token']}"}
                outcome = self.perform(json_request("POST", f"{self.base_url}/audienceMembers:{verb}", body, headers=headers))
                if not outcome.ok:
                    return outcome
        return Outcome("delivered", "200")
