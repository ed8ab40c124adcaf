"""A token file of deeply nested JSON (`[` × 40,000) is a clear "not a token" error, not a RecursionError."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests import factories
from tokens.models import VPPToken
from vpp.tokenfile import MAX_JSON_DEPTH, TokenFileNotJson, json_depth, parse_token_file

NESTED = base64.b64encode(b"[" * 40_000).decode()


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("nested.vpptoken", NESTED.encode())


def test_parse_refuses_nested_json_before_parsing_it():
    with pytest.raises(TokenFileNotJson, match="nested more than"):
        parse_token_file(NESTED)
    assert json_depth('{"token": "[[[[{{{{", "orgName": "a\\\\\\"[["}') == 1
    shallow = base64.b64encode(b'{"a": [[[1]]], "token": "t", "expDate": "x", "orgName": "o"}')
    with pytest.raises(Exception) as caught:  # deep enough to be parsed, then refused as a token
        parse_token_file(shallow)
    assert not isinstance(caught.value, TokenFileNotJson)
    assert json_depth("[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1


@pytest.mark.django_db
def test_nested_token_file_upload_page_shows_a_form_error_and_saves_nothing(admin_web):
    response = admin_web.post(
        reverse("tokens:create"),
        {
            "token_file": _upload(),
            "name": "Nested",
            "apple_id": "vpp@example.com",
            "country_or_region": "US",
            "account_type": "business",
            "automatic_app_updates": "true",
            "acknowledge_single_mdm": "on",
        },
    )
    assert response.status_code in (200, 400)
    assert "nested more than" in response.content.decode()
    assert not VPPToken.objects.exists()


@pytest.mark.django_db
def test_nested_token_file_through_the_api_answers_400_on_create_and_renew(admin_api):
    response = admin_api.post(
        "/api/v1/vpp-tokens/",
        {
            "token_file": _upload(),
            "name": "Nested",
            "apple_id": "vpp@example.com",
            "country_or_region": "US",
            "account_type": "business",
            "acknowledge_single_mdm": "true",
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert "nested more than" in " ".join(response.json()["token_file"])
    assert not VPPToken.objects.exists()
    token = factories.VPPTokenFactory()
    before = token.token_sha256
    renew = admin_api.post(
        f"/api/v1/vpp-tokens/{token.pk}/renew/", {"token_file": _upload()}, format="multipart"
    )
    assert renew.status_code == 400
    assert "nested more than" in " ".join(renew.json()["token_file"])
    token.refresh_from_db()
    assert token.token_sha256 == before
