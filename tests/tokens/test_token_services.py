"""Token services against the Apple simulator over HTTP: upload (T1-T5), renew (T15), delete (T13), state
checks (T4, T5, T8)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.models import App
from console.models import AuditEntry
from tests import factories
from tokens import services
from tokens.models import SyncRun, VPPToken

pytestmark = pytest.mark.django_db


def upload(apple, actor, *, content=None, org="Acme", location="HQ", **overrides):
    fields = {
        "file": content if content is not None else apple.mint_token(org_name=org, location_name=location),
        "name": f"{org} {location}",
        "apple_id": "vpp@acme.example",
        "country_or_region": "US",
        "account_type": "business",
        "automatic_app_updates": True,
        "acknowledge_single_mdm": True,
        "actor": actor,
    }
    fields.update(overrides)
    return services.token_create(**fields)


def refused(apple, actor, field="token_file", **kwargs) -> str:
    """Upload expecting a refusal; return the message for `field`, asserting nothing was saved."""
    tokens_before = VPPToken.objects.count()
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as info:
        upload(apple, actor, **kwargs)
    assert VPPToken.objects.count() == tokens_before
    assert AuditEntry.objects.count() == audit_before
    errors = info.value.message_dict
    assert field in errors, errors
    return " ".join(errors[field])


def file_of(payload) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


# --- T1: upload ---------------------------------------------------------------------------------------------


def test_t1_upload_reads_apple_and_claims_the_token(apple, administrator):
    token = upload(apple, administrator)
    token.refresh_from_db()
    uid = apple.uid_of(token.token_content)
    assert token.state == VPPToken.State.VALID
    assert token.organization_name == "Acme"
    assert token.location_name == "HQ"
    assert token.location_uid == uid
    assert token.country_or_region == "US"
    assert token.automatic_app_updates is True
    assert token.expires_at > timezone.now() + timezone.timedelta(days=360)
    assert token.created_by == administrator
    assert token.notification_secret
    # Claimed at Apple with our per-token mdmInfo id.
    config = apple.location(uid)
    mdm = config.get("mdmInfo") or config.get("client_config", {}).get("mdmInfo") or config.get("mdm_info")
    assert mdm["id"] == str(token.mdm_info_id)
    # The token file is encrypted at rest, and the audit log holds no secret.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT token_content, notification_secret FROM tokens_vpptoken WHERE id = %s", [token.pk]
        )
        raw_content, raw_secret = cursor.fetchone()
    assert raw_content != token.token_content and token.token_content[:20] not in raw_content
    assert raw_secret != token.notification_secret
    entry = AuditEntry.objects.get(action="vpp_token.create")
    logged = json.dumps(entry.after)
    assert "token_content" not in logged and token.notification_secret not in logged
    # The first full sync is requested.
    run = SyncRun.objects.get(vpp_token=token)
    assert run.trigger == SyncRun.Trigger.UPLOAD and run.full


def test_t2_upload_without_acknowledgement_is_refused(apple, administrator):
    message = refused(apple, administrator, field="acknowledge_single_mdm", acknowledge_single_mdm=False)
    assert "cannot later be changed" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty"),
        ("not base64 at all!!", "Base64"),
        (base64.b64encode(b"\xff\xfe").decode(), "UTF-8"),
        (base64.b64encode(b"{not json").decode(), "JSON"),
        (file_of({"token": "x", "orgName": "Acme"}), "expDate"),
        ("A" * (70 * 1024), "too large"),
    ],
)
def test_malformed_token_files_are_refused_with_the_problem_named(apple, administrator, content, expected):
    assert expected in refused(apple, administrator, content=content)


def test_t5_expired_file_is_refused_without_calling_apple(apple, administrator, settings):
    content = apple.mint_token(org_name="Acme", location_name="Old", days=-1)
    # Apple unreachable: the refusal must come from the file's expDate alone.
    settings.APPLE_VPP_BASE_URL = "http://127.0.0.1:9/mdm/v2/"
    message = refused(apple, administrator, content=content)
    assert "expired" in message and "reached" not in message


def test_apple_invalid_token_is_refused_with_apples_number(apple, administrator):
    exp = (timezone.now() + timezone.timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    content = file_of({"token": "forged.signature", "expDate": exp, "orgName": "Mallory"})
    assert "9622" in refused(apple, administrator, content=content)


def test_apple_revoked_token_is_refused_with_apples_number(apple, administrator):
    content = apple.mint_token(org_name="Acme", location_name="Revoked")
    apple.set_token_state(apple.uid_of(content), "revoked")
    assert "9625" in refused(apple, administrator, content=content)


def test_apple_expired_token_is_refused_with_apples_number(apple, administrator):
    content = apple.mint_token(org_name="Acme", location_name="Expired at Apple")
    apple.set_token_state(apple.uid_of(content), "expired")
    assert "9621" in refused(apple, administrator, content=content)


def test_apple_unreachable_is_refused_with_a_clear_message(apple, administrator, settings):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    settings.APPLE_VPP_BASE_URL = "http://127.0.0.1:9/mdm/v2/"
    assert "could not be reached" in refused(apple, administrator, content=content)


def test_same_file_twice_is_refused_naming_the_token(apple, administrator):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    upload(apple, administrator, content=content, name="First")
    assert "“First”" in refused(apple, administrator, content=content, name="Second")


def test_same_location_twice_is_refused_naming_the_token(apple, administrator):
    upload(apple, administrator, name="First")
    newer = apple.mint_token(org_name="Acme", location_name="HQ")
    assert "“First”" in refused(apple, administrator, content=newer, name="Second")


def test_t3_token_limit(apple, administrator, settings):
    settings.VPP_MAX_TOKENS = 2
    upload(apple, administrator, location="One")
    upload(apple, administrator, location="Two")
    with pytest.raises(ValidationError) as info:
        upload(apple, administrator, location="Three")
    assert "At most 2 VPP tokens" in " ".join(info.value.messages)
    assert VPPToken.objects.count() == 2


def test_country_must_be_iso_alpha_2(apple, administrator):
    message = refused(apple, administrator, field="country_or_region", country_or_region="USA")
    assert "ISO 3166-1 alpha-2" in message


def test_t4_token_of_another_mdm_is_refused_naming_it(apple, administrator):
    content = apple.mint_token(org_name="Acme", location_name="Jamf")
    uid = apple.uid_of(content)
    apple.set_mdm_info(uid, id=str(uuid.uuid4()), name="OtherMDM", metadata="mdm.other.example")
    message = refused(apple, administrator, field="take_control_from_external_mdm", content=content)
    assert "OtherMDM" in message


def test_t4_take_control_from_another_mdm(apple, administrator):
    content = apple.mint_token(org_name="Acme", location_name="Jamf")
    uid = apple.uid_of(content)
    apple.set_mdm_info(uid, id=str(uuid.uuid4()), name="OtherMDM", metadata="mdm.other.example")
    token = upload(apple, administrator, content=content, take_control_from_external_mdm=True)
    assert token.state == VPPToken.State.VALID
    services.token_check_state(token=token)
    assert token.state == VPPToken.State.VALID
    assert AuditEntry.objects.get(action="vpp_token.create").after["took_control_from"].startswith("OtherMDM")


# --- T10 / T15: update and renew -----------------------------------------------------------------------


def test_t10_update_keeps_the_new_country(apple, administrator):
    token = upload(apple, administrator)
    services.token_update(token=token, actor=administrator, country_or_region="de", name="Renamed")
    token.refresh_from_db()
    assert (token.country_or_region, token.name) == ("DE", "Renamed")
    entry = AuditEntry.objects.get(action="vpp_token.update")
    assert entry.after == {"name": "Renamed", "country_or_region": "DE"}


def test_t15_renew_same_location_keeps_apps(apple, administrator):
    token = upload(apple, administrator)
    SyncRun.objects.filter(vpp_token=token).update(status=SyncRun.Status.COMPLETED)
    app = factories.AppFactory(vpp_token=token)
    uploaded = token.token_uploaded_at
    VPPToken.objects.filter(pk=token.pk).update(state=VPPToken.State.REVOKED)
    token.refresh_from_db()
    newer = apple.mint_token(org_name="Acme", location_name="HQ")
    services.token_renew(token=token, file=newer, actor=administrator)
    token.refresh_from_db()
    assert token.token_content == newer
    assert token.state == VPPToken.State.VALID
    assert token.token_uploaded_at > uploaded
    assert App.objects.filter(pk=app.pk, vpp_token=token).exists()
    assert AuditEntry.objects.filter(action="vpp_token.renew").exists()


def test_t15_renew_with_another_location_is_refused(apple, administrator):
    token = upload(apple, administrator)
    other = apple.mint_token(org_name="Acme", location_name="Branch")
    with pytest.raises(ValidationError) as info:
        services.token_renew(token=token, file=other, actor=administrator)
    assert "another location" in " ".join(info.value.message_dict["token_file"])
    saved = VPPToken.objects.get(pk=token.pk)
    assert saved.token_content == token.token_content


# --- T13: delete ----------------------------------------------------------------------------------------


def test_t13_delete_cascades_apps_and_calls_no_apple(apple, administrator, settings):
    token = upload(apple, administrator)
    app = factories.AppFactory(vpp_token=token)
    group = factories.GroupFactory()
    from assignments.models import Assignment

    Assignment.objects.create(app=app, group=group, intent="required", license_type="device")
    # Apple is unreachable: a call would fail the delete.
    settings.APPLE_VPP_BASE_URL = "http://127.0.0.1:9/mdm/v2/"
    services.token_delete(token=token, actor=administrator)
    assert not VPPToken.objects.exists()
    assert not App.objects.exists()
    assert not Assignment.objects.exists()
    assert AuditEntry.objects.filter(action="vpp_token.delete").exists()


# --- T4, T5, T8: state checks ----------------------------------------------------------------------------


def test_t8_state_check_notices_revocation_and_deletes_nothing(apple, administrator):
    token = upload(apple, administrator)
    app = factories.AppFactory(vpp_token=token)
    apple.set_token_state(token.location_uid, "revoked")
    services.token_check_state(token=token)
    token.refresh_from_db()
    assert token.state == VPPToken.State.REVOKED
    assert "9625" in str(token.state_detail)
    assert not token.is_usable
    assert App.objects.filter(pk=app.pk).exists()


def test_t8_state_check_notices_another_mdm(apple, administrator):
    token = upload(apple, administrator)
    apple.set_mdm_info(token.location_uid, id=str(uuid.uuid4()), name="OtherMDM", metadata="other.example")
    services.token_check_state(token=token)
    token.refresh_from_db()
    assert token.state == VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM
    assert "OtherMDM" in str(token.state_detail)
    assert AuditEntry.objects.filter(action="vpp_token.state").exists()


def test_t5_state_check_of_expired_token_makes_no_call(apple, administrator, settings):
    token = factories.VPPTokenFactory(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    settings.APPLE_VPP_BASE_URL = "http://127.0.0.1:9/mdm/v2/"
    services.token_check_state(token=token)
    token.refresh_from_db()
    assert token.state == VPPToken.State.EXPIRED


def test_state_check_on_apple_fault_keeps_state(apple, administrator, settings):
    token = upload(apple, administrator)
    settings.APPLE_VPP_BASE_URL = "http://127.0.0.1:9/mdm/v2/"
    services.token_check_state(token=token)
    token.refresh_from_db()
    assert token.state == VPPToken.State.VALID


def test_b4_upload_subscribes_to_apple_notifications(apple, administrator, settings, live_server):
    """With PUBLIC_BASE_URL, Apple gets our per-token URL and secret after the commit."""
    settings.PUBLIC_BASE_URL = live_server.url
    token = upload(apple, administrator)
    token.refresh_from_db()
    assert token.state_detail == ""
    url = f"{live_server.url}/tokens/notify/{token.mdm_info_id}/"
    tests_sent = [n for n in apple.notifications() if n["url"] == url]
    assert tests_sent and 200 <= tests_sent[0]["status"] < 300
