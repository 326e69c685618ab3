"""Each provider's request shape, auth and batch limit, against a local server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from engagectl.sync.provider import Delivery
from providers.registry import UnknownProvider, available_providers, load_provider


def identify(i: int, **extra) -> Delivery:
    message = {"type": "identify", "messageId": f"personas_{i}", "userId": f"u{i}", "traits": {"vip": True, **extra},
               "context": {"personas": {"computation_key": "vip"}}, "timestamp": "2024-06-01T00:00:00.000Z"}
    return Delivery(i, message["messageId"], "identify", json.dumps(message))


def track(i: int, email: str | None = None) -> Delivery:
    message = {"type": "track", "messageId": f"personas_t{i}", "event": "Audience Entered",
               "properties": {"audience_key": "vip", "vip": True},
               "context": {"personas": {"computation_key": "vip"}}, "timestamp": "2024-06-01T00:00:00.000Z"}
    if email:
        message["context"]["traits"] = {"email": email}
    else:
        message["userId"] = f"u{i}"
    return Delivery(1000 + i, message["messageId"], "track", json.dumps(message))


def member(i: int, action: str = "add", audience: str = "vip") -> Delivery:
    message = {"type": "audience_membership", "action": action, "audience_key": audience, "profile_id": f"p{i}",
               "identifiers": {"email": [f" User{i}@Example.com "], "user_id": [f"u{i}"], "phone": ["+1 (555) 0100"]}}
    return Delivery(i, f"personas_m{i}", "list_add" if action == "add" else "list_remove", json.dumps(message))


def provider(name: str, **settings):
    return load_provider(name)("dest", settings, space="spa_test")


def test_registry_lists_every_shipped_provider():
    assert available_providers() == ["braze", "customerio", "facebook_custom_audiences", "file",
                                     "google_data_manager", "mixpanel", "segment", "webhook"]
    with pytest.raises(UnknownProvider, match="available: braze"):
        load_provider("nope")


def test_webhook_signs_batches_as_standard_webhooks(server):
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789").decode()
    hook = provider("webhook", url=server.url + "/in", secret=secret, headers={"X-Team": "growth"})
    assert hook.send([identify(1), identify(2)]).ok
    (request,) = server.received
    assert request.path == "/in" and request.headers["x-team"] == "growth"
    assert [m["userId"] for m in request.json()["data"]] == ["u1", "u2"]
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(b"0123456789abcdef0123456789", signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    hook.send([identify(1), identify(2)])
    assert server.received[1].headers["webhook-id"] == request.headers["webhook-id"]  # stable across retries


def test_segment_posts_v1_batch_with_write_key(server):
    segment = provider("segment", write_key="wk_123", base_url=server.url)
    assert segment.send([identify(1), track(2)]).ok
    (request,) = server.received
    assert request.path == "/v1/batch"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"wk_123:").decode()
    body = request.json()
    assert [m["type"] for m in body["batch"]] == ["identify", "track"] and "sentAt" in body
    assert segment.capabilities.identify and segment.capabilities.track


def test_braze_users_track_with_bearer_and_75_objects(server):
    braze = provider("braze", endpoint=server.url, api_key="braze-key")
    assert braze.batch_size == 75 and braze.rate_limit == 100
    assert braze.send([identify(1), track(2), track(3, email="x@example.com")]).ok
    (request,) = server.received
    assert request.path == "/users/track"
    assert request.headers["authorization"] == "Bearer braze-key"
    body = request.json()
    assert body["attributes"] == [{"external_id": "u1", "vip": True}]
    assert body["events"][0] == {"external_id": "u2", "name": "Audience Entered", "time": "2024-06-01T00:00:00.000Z",
                                 "properties": {"audience_key": "vip", "vip": True}}
    assert body["events"][1]["email"] == "x@example.com"


def test_mixpanel_profiles_events_with_insert_id_and_alias(server):
    mixpanel = provider("mixpanel", token="tok", api_secret="sec", base_url=server.url)
    alias = Delivery(9, "personas_a", "alias", json.dumps(
        {"type": "alias", "messageId": "personas_a", "userId": "u1", "previousId": "anon1",
         "timestamp": "2024-06-01T00:00:00.000Z"}))
    assert mixpanel.capabilities.alias and mixpanel.batch_size == 2000
    assert mixpanel.send([identify(1), track(2), alias]).ok
    engage, imported = server.received
    assert engage.path == "/engage" and engage.json() == [{"$token": "tok", "$distinct_id": "u1", "$set": {"vip": True}}]
    assert imported.path == "/import" and imported.query["strict"] == ["1"]
    assert imported.headers["authorization"] == "Basic " + base64.b64encode(b"sec:").decode()
    event, created_alias = imported.json()
    assert event["properties"]["$insert_id"] == "personas_t2" and event["properties"]["distinct_id"] == "u2"
    assert created_alias["event"] == "$create_alias"
    assert created_alias["properties"]["alias"] == "anon1" and created_alias["properties"]["distinct_id"] == "u1"


def test_customerio_v2_batch_with_basic_auth(server):
    cio = provider("customerio", site_id="site", api_key="key", base_url=server.url)
    assert cio.rate_limit == 30
    assert cio.send([identify(1), track(2, email="e@example.com")]).ok
    (request,) = server.received
    assert request.path == "/api/v2/batch"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"site:key").decode()
    person, event = request.json()["batch"]
    assert person == {"type": "person", "identifiers": {"id": "u1"}, "action": "identify",
                      "attributes": {"vip": True}}
    assert event["action"] == "event" and event["name"] == "Audience Entered"
    assert event["identifiers"] == {"email": "e@example.com"} and event["id"] == "personas_t2"


def test_facebook_adds_and_removes_hashed_members(server):
    fb = provider("facebook_custom_audiences", access_token="tok", audience_ids={"vip": "6001"}, base_url=server.url)
    assert fb.capabilities.destination_type == "list" and fb.batch_size == 10_000
    assert fb.send([member(1), member(2), member(3, "remove")]).ok
    added, removed = server.received
    assert (added.method, added.path, removed.method) == ("POST", "/6001/users", "DELETE")
    assert added.query["access_token"] == ["tok"]
    payload = added.json()["payload"]
    assert payload["schema"] == ["EXTERN_ID", "EMAIL", "PHONE"]
    assert payload["data"][0] == ["u1", hashlib.sha256(b"user1@example.com").hexdigest(),
                                  hashlib.sha256(b"15550100").hexdigest()]
    assert len(removed.json()["payload"]["data"]) == 1


def test_facebook_splits_requests_at_10000_rows(server):
    fb = provider("facebook_custom_audiences", access_token="tok", audience_ids={"vip": "6001"}, base_url=server.url)
    batch = [member(i) for i in range(10_001)]
    assert fb.send(batch).ok
    assert [len(r.json()["payload"]["data"]) for r in server.received] == [10_000, 1]


@pytest.mark.parametrize("code,expected", [(190, "paused"), (80003, "awaiting-retry"), (1487366, "discarded"),
                                           (105, "split")])
def test_facebook_error_codes_decide_the_class(server, code, expected):
    server.decide = lambda request: (400, {}, json.dumps({"error": {"code": code, "message": "x"}}))
    fb = provider("facebook_custom_audiences", access_token="tok", audience_ids={"vip": "6001"}, base_url=server.url)
    assert fb.send([member(1)]).error_class == expected


def test_google_data_manager_ingest_and_remove(server):
    google = provider("google_data_manager", access_token="oauth", base_url=server.url,
                      operating_account={"account_type": "GOOGLE_ADS", "account_id": "1234567890"},
                      audience_ids={"vip": "777"})
    assert google.send([member(1), member(2, "remove")]).ok
    ingest, remove = server.received
    assert ingest.path == "/audienceMembers:ingest" and remove.path == "/audienceMembers:remove"
    assert ingest.headers["authorization"] == "Bearer oauth"
    body = ingest.json()
    assert body["destinations"] == [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                                     "productDestinationId": "777"}]
    assert body["encoding"] == "HEX" and body["consent"]["adUserData"] == "CONSENT_GRANTED"
    identifiers = body["audienceMembers"][0]["userData"]["userIdentifiers"]
    assert identifiers == [{"emailAddress": hashlib.sha256(b"user1@example.com").hexdigest()},
                           {"phoneNumber": hashlib.sha256(b"+15550100").hexdigest()}]
    assert "consent" not in remove.json()
    assert google.batch_size == 10_000


def test_a_missing_audience_mapping_is_discarded_not_sent(server):
    fb = provider("facebook_custom_audiences", access_token="tok", audience_ids={}, base_url=server.url)
    outcome = fb.send([member(1)])
    assert outcome.error_class == "discarded" and "audience_ids" in outcome.detail
    assert server.received == []


def test_missing_settings_name_what_is_needed():
    from engagectl.sync.provider import ProviderSettingsError

    with pytest.raises(ProviderSettingsError, match="needs settings: api_key"):
        provider("braze", endpoint="http://127.0.0.1:9")


def test_a_provider_folder_is_all_it_takes(tmp_path, monkeypatch):
    import providers

    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "from engagectl.sync.provider import DELIVERED, Capabilities, Provider\n"
        "class Echo(Provider):\n"
        "    name = 'echo'\n"
        "    capabilities = Capabilities(destination_type='event', identify=True)\n"
        "    def send(self, batch):\n"
        "        return DELIVERED\n"
        "PROVIDER = Echo\n")
    monkeypatch.setattr(providers, "__path__", [*providers.__path__, str(tmp_path)])
    assert "echo" in available_providers()
    assert load_provider("echo")("dest", {}).send([identify(1)]).ok
