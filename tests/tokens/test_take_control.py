"""T4/T8: a token another MDM took over stops working here until an administrator takes control again."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.tokens.test_token_services import upload
from tokens import services
from tokens.models import SyncRun, VPPToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def taken(apple, administrator):
    """A token whose location another MDM has claimed, detected by the state check."""
    token = upload(apple, administrator)
    apple.set_mdm_info(token.location_uid, id=str(uuid.uuid4()), name="OtherMDM", metadata="other.example")
    token = services.token_check_state(token=token)
    assert token.state == VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM
    SyncRun.objects.filter(vpp_token=token).delete()
    return token


def _apple_mdm_id(apple, token) -> str:
    return apple.location(token.location_uid)["mdmInfo"]["id"]


def test_t4_take_control_reclaims_the_token_and_syncs(apple, administrator, taken):
    token = services.token_take_control(token=taken, actor=administrator)
    assert token.state == VPPToken.State.VALID
    assert _apple_mdm_id(apple, token) == str(token.mdm_info_id)
    assert SyncRun.objects.filter(vpp_token=token, status="queued").exists()


def test_t4_take_control_only_for_tokens_of_another_mdm(apple, administrator):
    token = upload(apple, administrator)
    with pytest.raises(ValidationError):
        services.token_take_control(token=token, actor=administrator)


def test_t4_take_control_page_needs_the_confirmation(apple, admin_web, helpdesk_web, taken):
    url = reverse("tokens:take-control", args=[taken.pk])
    assert helpdesk_web.post(url, {"confirm": "1"}).status_code == 403
    admin_web.post(url, {})
    taken.refresh_from_db()
    assert taken.state == VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM
    page = admin_web.get(reverse("tokens:detail", args=[taken.pk])).content.decode()
    assert 'data-testid="take-control"' in page
    response = admin_web.post(url, {"confirm": "1"})
    assert response.status_code == 302
    taken.refresh_from_db()
    assert taken.state == VPPToken.State.VALID
    assert _apple_mdm_id(apple, taken) == str(taken.mdm_info_id)


def test_t4_take_control_api(apple, admin_api, helpdesk_api, taken):
    url = f"/api/v1/vpp-tokens/{taken.pk}/take-control/"
    assert helpdesk_api.post(url).status_code == 403
    response = admin_api.post(url)
    assert response.status_code == 200
    assert response.json()["state"] == "valid"
    assert admin_api.post(url).status_code == 400
