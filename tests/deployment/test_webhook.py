"""D6 and D1: NanoMDM's webhook is authenticated, idempotent and answered fast; enrolment and check-out."""

from __future__ import annotations

import pytest

from deployment import services
from deployment.models import WebhookEvent
from directory.models import Device
from tests import factories
from tests.deployment.conftest import HMAC_KEY, ack, authenticate, checkout, post_event

pytestmark = pytest.mark.django_db


def test_d6_missing_signature_is_401_and_changes_nothing(client, mdm_settings):
    response = post_event(client, authenticate("UDID-1", "SN0001"), key=None)
    assert response.status_code == 401
    assert "X-Hmac-Signature" in response.json()["detail"]
    assert WebhookEvent.objects.count() == 0
    assert not Device.objects.exists()


def test_d6_wrong_signature_is_403_and_changes_nothing(client, mdm_settings):
    response = post_event(client, authenticate("UDID-1", "SN0001"), key="another-key")
    assert response.status_code == 403
    response = post_event(client, authenticate("UDID-1", "SN0001"), signature="not base64!")
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0
    services.apply_pending_events()
    assert not Device.objects.exists()


def test_d6_unconfigured_key_refuses_every_event(client, mdm_settings):
    mdm_settings.NANOMDM_WEBHOOK_HMAC_KEY = ""
    response = post_event(client, authenticate("UDID-1", "SN0001"))
    assert response.status_code == 503
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"topic": 5}', b'{"topic": "mdm.Connect", "acknowledge_event": "x"}']
)
def test_d6_malformed_event_is_400_and_recorded_nowhere(client, mdm_settings, body):
    response = post_event(client, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed event")
    assert WebhookEvent.objects.count() == 0


def test_d6_only_post(client, mdm_settings):
    assert client.get("/webhooks/nanomdm/").status_code == 405


def test_d1_authenticate_enrols_a_new_device(client, mdm_settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_event(client, authenticate("00008030-AAA", "F9FXX1", name="Kiosk iPad 7"))
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    assert len(callbacks) == 1  # the worker task is enqueued after commit; nothing applied in the request
    assert not Device.objects.exists()
    services.apply_pending_events()
    device = Device.objects.get()
    assert (device.serial_number, device.udid, device.name) == ("F9FXX1", "00008030-AAA", "Kiosk iPad 7")
    assert device.mdm_enrolled and device.last_checkin_at is not None
    assert device.platform == "iPadOS" and device.os_version == "18.1" and device.model == "iPad"


def test_d1_authenticate_matches_an_existing_device_by_serial(client, mdm_settings):
    existing = factories.DeviceFactory(serial_number="F9FXX2", name="Front desk")
    post_event(client, authenticate("00008030-BBB", "f9fxx2", name="Front desk iPad"))
    services.apply_pending_events()
    existing.refresh_from_db()
    assert Device.objects.count() == 1
    assert existing.udid == "00008030-BBB" and existing.mdm_enrolled
    assert existing.name == "Front desk iPad"


def test_d6_an_identifier_longer_than_its_column_is_refused_not_cut(client, mdm_settings):
    """A serial number or UDID longer than 64 characters (PostgreSQL refused the row with a DataError)."""
    existing = factories.DeviceFactory(serial_number="X" * 64)
    post_event(client, authenticate("UDID-LONG-SERIAL", "X" * 65))
    post_event(client, authenticate("U" * 65, "SN-LONG-UDID"))
    assert services.apply_pending_events() == 2
    assert sorted(WebhookEvent.objects.values_list("outcome", flat=True)) == [
        "The MDM server sent a UDID longer than 64 characters.",
        "The MDM server sent a serial number longer than 64 characters.",
    ]
    assert list(Device.objects.all()) == [existing]
    existing.refresh_from_db()
    assert existing.udid == "" and not existing.mdm_enrolled


def test_d6_the_same_event_twice_changes_nothing_twice(client, mdm_settings):
    event = authenticate("00008030-CCC", "F9FXX3")
    first = post_event(client, event)
    second = post_event(client, event)
    assert first.json() == {"status": "accepted"} and second.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    assert services.apply_pending_events() == 1
    assert services.apply_pending_events() == 0
    event_row = WebhookEvent.objects.get()
    assert services.apply_webhook_event(event_id=event_row.pk) == "already applied"
    assert Device.objects.count() == 1


def test_d6_an_event_without_id_is_deduplicated_by_its_body(client, mdm_settings):
    event = authenticate("00008030-DDD", "F9FXX4")
    del event["event_id"]
    post_event(client, event)
    assert post_event(client, event).json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1


def test_d6_unknown_topics_and_commands_are_accepted_and_ignored(client, mdm_settings):
    unknown = {"topic": "mdm.SomethingNew", "event_id": "e-unknown", "created_at": "2026-12-01T10:00:00Z"}
    assert post_event(client, unknown).status_code == 200
    assert post_event(client, ack("00008030-EEE", "NO-SUCH-COMMAND")).status_code == 200
    services.apply_pending_events()
    outcomes = sorted(WebhookEvent.objects.values_list("outcome", flat=True))
    assert outcomes == ["ignored topic", "unknown command"]
    assert not Device.objects.exists()


@pytest.fixture
def retired():
    """The device_retired signals sent (assignments reclaims the device licenses on it, B1)."""
    from directory import signals

    sent: list = []

    def receiver(sender, **kwargs):
        sent.append({k: v for k, v in kwargs.items() if k != "signal"})

    signals.device_retired.connect(receiver, dispatch_uid="test-retired")
    yield sent
    signals.device_retired.disconnect(dispatch_uid="test-retired")


def test_d1_checkout_marks_the_device_unenrolled_and_reclaims_its_licenses(
    client, mdm_settings, django_capture_on_commit_callbacks, retired
):
    post_event(client, authenticate("00008030-FFF", "F9FXX5"))
    services.apply_pending_events()
    device = Device.objects.get()
    post_event(client, checkout("00008030-FFF"))
    with django_capture_on_commit_callbacks(execute=True):
        services.apply_pending_events()
    device.refresh_from_db()
    assert not device.mdm_enrolled and device.udid == "00008030-FFF"
    assert retired == [{"device_id": device.pk, "actor_id": None}]


def test_d1_checkout_keeps_licenses_when_the_setting_is_off(
    client, mdm_settings, django_capture_on_commit_callbacks, retired
):
    mdm_settings.NANOMDM_CHECKOUT_RECLAIMS_LICENSES = False
    post_event(client, authenticate("00008030-GGG", "F9FXX6"))
    post_event(client, checkout("00008030-GGG"))
    with django_capture_on_commit_callbacks(execute=True):
        services.apply_pending_events()
    assert not Device.objects.get().mdm_enrolled
    assert retired == []


def test_d1_devices_api_shows_and_filters_mdm_fields(client, mdm_settings, admin_api):
    factories.DeviceFactory(serial_number="PLAIN1")
    post_event(client, authenticate("00008030-HHH", "F9FXX7"))
    services.apply_pending_events()
    enrolled = admin_api.get("/api/v1/devices/?mdm_enrolled=true").json()
    assert [d["serial_number"] for d in enrolled["results"]] == ["F9FXX7"]
    row = enrolled["results"][0]
    assert row["udid"] == "00008030-HHH" and row["mdm_enrolled"] is True and row["last_checkin_at"]
    by_udid = admin_api.get("/api/v1/devices/?search=8030-hhh").json()
    assert [d["serial_number"] for d in by_udid["results"]] == ["F9FXX7"]
    # The MDM fields are read-only through the API.
    device_id = row["id"]
    admin_api.patch(f"/api/v1/devices/{device_id}/", {"udid": "forged", "mdm_enrolled": False}, format="json")
    assert Device.objects.get(pk=device_id).udid == "00008030-HHH"


def test_webhook_key_check_in_production_settings(mdm_settings):
    from deployment.checks import nanomdm_webhook_key

    assert nanomdm_webhook_key(None) == []
    mdm_settings.NANOMDM_WEBHOOK_HMAC_KEY = ""
    assert [e.id for e in nanomdm_webhook_key(None)] == ["deployment.E001"]
    mdm_settings.NANOMDM_URL = ""
    assert nanomdm_webhook_key(None) == []
    assert HMAC_KEY
