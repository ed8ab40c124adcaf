"""T4, T8, T15: an upload claims the token at Apple before it saves anything, with no database lock held
during the Apple call; a claim that reached Apple while the upload failed is recognised as ours on the retry,
while a claim by another MDM (or another installation of this console) is still refused."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connection

from tests import factories
from tests.tokens.test_token_services import refused, upload
from tokens import apple as token_apple
from tokens import services
from tokens.models import VPPToken

CLAIM = "POST /mdm/v2/client/config"


def _apple_mdm_info(apple, uid) -> dict:
    return apple.location(uid).get("mdmInfo") or {}


def _wait_for_claim(apple, uid, timeout=5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _apple_mdm_info(apple, uid)
        if info.get("id"):
            return info
        time.sleep(0.05)
    return {}


@pytest.mark.django_db
def test_t15_retry_after_a_claim_apple_kept_succeeds(apple, administrator, settings):
    """Apple's claim is slower than the page waits: "try again", Apple keeps our mdmInfo, the retry works."""
    settings.VPP_INTERACTIVE_TIMEOUT = 0.3
    content = apple.mint_token(org_name="Acme", location_name="Slow HQ")
    uid = apple.uid_of(content)
    apple.add_fault("slow", delay=0.8, count=2, path=CLAIM)

    message = refused(apple, administrator, content=content)
    assert "Nothing was saved; try again" in message
    kept = _wait_for_claim(apple, uid)
    assert kept["id"] == str(token_apple.mdm_info_id_for(uid))
    assert kept["name"] == settings.VPP_MDM_NAME

    settings.VPP_INTERACTIVE_TIMEOUT = 10.0
    token = upload(apple, administrator, content=content)
    assert token.state == VPPToken.State.VALID
    assert _apple_mdm_info(apple, uid)["id"] == str(token.mdm_info_id)


@pytest.mark.django_db
def test_t15_a_token_deleted_here_can_be_uploaded_again(apple, administrator):
    """Deleting a token does not call Apple (T13): its claim stays, and is still ours on the next upload."""
    content = apple.mint_token(org_name="Acme", location_name="Again")
    first = upload(apple, administrator, content=content)
    services.token_delete(token=first, actor=administrator)
    second = upload(apple, administrator, content=content)
    assert second.mdm_info_id == first.mdm_info_id
    assert second.state == VPPToken.State.VALID


@pytest.mark.django_db
def test_t4_a_foreign_mdm_is_still_refused_without_taking_control(apple, administrator):
    content = apple.mint_token(org_name="Acme", location_name="Taken")
    uid = apple.uid_of(content)
    apple.set_mdm_info(uid, id=str(uuid.uuid4()), name="OtherMDM", metadata="other.example")
    message = refused(apple, administrator, field="take_control_from_external_mdm", content=content)
    assert "OtherMDM" in message
    assert _apple_mdm_info(apple, uid)["name"] == "OtherMDM"


@pytest.mark.django_db
def test_t8_another_installation_of_this_console_is_refused(apple, administrator, settings):
    """Same product name, another installation: not ours (T15: one installation at a time)."""
    content = apple.mint_token(org_name="Acme", location_name="Elsewhere")
    uid = apple.uid_of(content)
    settings.VPP_INSTALLATION_ID = str(uuid.uuid4())
    other_id = token_apple.mdm_info_id_for(uid)
    apple.set_mdm_info(uid, id=str(other_id), name=settings.VPP_MDM_NAME, metadata="other-console.example")
    settings.VPP_INSTALLATION_ID = str(uuid.uuid4())
    message = refused(apple, administrator, field="take_control_from_external_mdm", content=content)
    assert settings.VPP_MDM_NAME in message

    token = upload(apple, administrator, content=content, take_control_from_external_mdm=True)
    assert _apple_mdm_info(apple, uid)["id"] == str(token.mdm_info_id) != str(other_id)


@pytest.mark.django_db(transaction=True)
def test_t1_no_database_lock_is_held_while_apple_claims_the_token(apple, administrator):
    """A concurrent write finishes at once while Apple takes its time over the claim."""
    other = factories.VPPTokenFactory(name="Other")
    apple.add_fault("slow", delay=2.0, count=1, path=CLAIM)
    outcome: dict[str, object] = {}

    def run_upload():
        try:
            outcome["token"] = upload(apple, administrator, location="Slow claim")
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run_upload)
    thread.start()
    deadline = time.monotonic() + 5
    while apple.state.faults and time.monotonic() < deadline:  # the claim has reached Apple and waits
        time.sleep(0.02)
    assert not apple.state.faults
    started = time.monotonic()
    services.token_update(token=other, name="Renamed meanwhile", actor=administrator)
    elapsed = time.monotonic() - started
    thread.join(15)
    assert "error" not in outcome, outcome
    assert elapsed < 1.0, f"a write waited {elapsed:.1f}s for the upload's Apple call"
    assert VPPToken.objects.get(pk=other.pk).name == "Renamed meanwhile"
    assert VPPToken.objects.filter(location_name="Slow claim").count() == 1


def test_t15_the_claim_id_is_stable_per_installation_and_location(settings):
    settings.VPP_INSTALLATION_ID = ""
    first = token_apple.mdm_info_id_for("uid-1")
    assert token_apple.mdm_info_id_for("uid-1") == first
    assert token_apple.mdm_info_id_for("uid-2") != first
    settings.VPP_INSTALLATION_ID = str(uuid.uuid4())
    assert token_apple.mdm_info_id_for("uid-1") != first
