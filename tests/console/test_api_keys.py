"""API keys: hashed at rest, shown once, revocable by their owner and by administrators, audited."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from console.models import ApiKey, AuditEntry
from tests import factories

KEY_IN_PAGE = re.compile(r'data-testid="api-key-value">([0-9a-f]+)<')


def _create_on_page(web, name="Inventory script") -> str:
    response = web.post(reverse("api-keys"), {"name": name})
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    match = KEY_IN_PAGE.search(response.content.decode())
    assert match, "the new key is shown on the answer to its creation"
    return match.group(1)


def _api(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def _every_stored_value() -> str:
    """Every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.mark.django_db
def test_api_key_is_stored_only_as_a_digest_and_shown_once(admin_web, administrator):
    key = _create_on_page(admin_web)
    assert len(key) == 64
    stored = ApiKey.objects.get(user=administrator)
    assert stored.digest != key and len(stored.digest) == 128
    assert key not in _every_stored_value()
    # Listed by name and the first characters only; never shown again.
    page = admin_web.get(reverse("api-keys")).content.decode()
    assert "Inventory script" in page and f"{key[:8]}…" in page
    assert key not in page and key[:9] not in page
    # How to use it, as the README documents it (the placeholder shown, not swallowed as an HTML tag).
    assert "Authorization: Token &lt;key&gt;" in page


@pytest.mark.django_db
def test_api_key_works_once_created_and_notes_its_last_use(admin_web, administrator):
    key = _create_on_page(admin_web)
    page = admin_web.get(reverse("api-keys")).content.decode()
    assert "Never" in page
    response = _api(key).get("/api/v1/audit-log/")
    assert response.status_code == 200
    assert response.json()["results"][0]["action"] == "api_key.create"
    assert ApiKey.objects.get(user=administrator).last_used_at is not None
    assert "Never" not in admin_web.get(reverse("api-keys")).content.decode()
    # The header keeps DRF's form: the keyword "Token", case-insensitive.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"token {key}")
    assert api.get("/api/v1/apps/").status_code == 200


@pytest.mark.django_db
def test_revoked_api_key_answers_401(admin_web, administrator):
    key = _create_on_page(admin_web)
    row = ApiKey.objects.get(user=administrator)
    response = admin_web.post(reverse("api-key-revoke", args=[row.pk]))
    assert response.status_code == 302
    assert not ApiKey.objects.exists()
    revoked = _api(key).get("/api/v1/apps/")
    assert revoked.status_code == 401
    assert revoked["WWW-Authenticate"] == "Token"
    assert _api("0" * 64).get("/api/v1/apps/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["ab\x00cdef0123456789", "caf\u00e9" * 8], ids=["nul", "non-ascii"])
def test_a_key_with_characters_no_key_has_answers_401_not_500(key):
    """PostgreSQL refuses a NUL byte in a query; such a key is refused before any query is made."""
    response = _api(key).get("/api/v1/apps/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


@pytest.mark.django_db
def test_b6_api_key_actions_are_audited_without_the_key(admin_web, administrator):
    key = _create_on_page(admin_web, name="Backup job")
    row = ApiKey.objects.get()
    admin_web.post(reverse("api-key-revoke", args=[row.pk]))
    entries = list(AuditEntry.objects.filter(object_type="console.apikey").order_by("id"))
    assert [(e.action, e.actor_name) for e in entries] == [
        ("api_key.create", administrator.username),
        ("api_key.revoke", administrator.username),
    ]
    assert entries[0].after == {"user": administrator.username, "name": "Backup job", "prefix": key[:8]}
    assert entries[1].before["name"] == "Backup job"
    assert key not in _every_stored_value()


@pytest.mark.django_db
def test_m4_help_desk_manage_their_own_keys_only(helpdesk_web, help_desk, administrator):
    key = _create_on_page(helpdesk_web)
    # The key has its owner's rights: reading, not changing.
    assert _api(key).get("/api/v1/apps/").status_code == 200
    assert (
        _api(key).post(f"/api/v1/users/{factories.DirectoryUserFactory().pk}/deactivate/").status_code == 403
    )
    others, _plain = ApiKey.objects.create(user=administrator, expiry=None, name="admin's")
    page = helpdesk_web.get(reverse("api-keys")).content.decode()
    assert "admin&#x27;s" not in page and "Everyone" not in page
    assert helpdesk_web.post(reverse("api-key-revoke", args=[others.pk])).status_code == 404
    assert ApiKey.objects.filter(pk=others.pk).exists()
    own = ApiKey.objects.get(user=help_desk)
    assert helpdesk_web.post(reverse("api-key-revoke", args=[own.pk])).status_code == 302
    assert _api(key).get("/api/v1/apps/").status_code == 401


@pytest.mark.django_db
def test_administrators_see_and_revoke_anyones_key(admin_web, help_desk):
    row, plain = ApiKey.objects.create(user=help_desk, expiry=None, name="Help desk report")
    page = admin_web.get(reverse("api-keys")).content.decode()
    assert 'data-testid="all-api-keys"' in page and "Help desk report" in page and help_desk.username in page
    assert admin_web.post(reverse("api-key-revoke", args=[row.pk])).status_code == 302
    assert _api(plain).get("/api/v1/apps/").status_code == 401
    assert AuditEntry.objects.get(action="api_key.revoke").before["user"] == help_desk.username


@pytest.mark.django_db
def test_api_keys_page_needs_a_role_and_a_name(anon_web, no_role_user, admin_web):
    assert anon_web.get(reverse("api-keys")).status_code == 302
    from django.test import Client

    nobody = Client()
    nobody.force_login(no_role_user)
    assert nobody.get(reverse("api-keys")).status_code == 404
    assert nobody.post(reverse("api-keys"), {"name": "x"}).status_code == 404
    response = admin_web.post(reverse("api-keys"), {"name": "  "})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_api_keys_page_query_count_does_not_grow_with_keys(admin_web, administrator):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_web.get(reverse("api-keys")).status_code == 200
        return len(ctx)

    for _ in range(2):
        ApiKey.objects.create(user=factories.UserFactory(), expiry=None, name="few")
    few = count()
    for _ in range(20):
        ApiKey.objects.create(user=factories.UserFactory(), expiry=None, name="many")
        ApiKey.objects.create(user=administrator, expiry=None, name="mine")
    assert count() == few


@pytest.mark.django_db
def test_drf_create_token_reset_revokes_the_users_other_keys(administrator):
    import io

    from django.core.management import CommandError, call_command

    first, second = io.StringIO(), io.StringIO()
    call_command("drf_create_token", administrator.username, stdout=first)
    call_command("drf_create_token", "-r", administrator.username, stdout=second)
    old_key, new_key = first.getvalue().split()[2], second.getvalue().split()[2]
    assert _api(old_key).get("/api/v1/apps/").status_code == 401
    assert _api(new_key).get("/api/v1/apps/").status_code == 200
    with pytest.raises(CommandError, match="user nobody does not exist"):
        call_command("drf_create_token", "nobody")


@pytest.mark.django_db
def test_plain_authtoken_keys_are_carried_over_hashed(administrator):
    """An installation upgraded from DRF's authtoken: its keys keep working, the plain-text table goes."""
    migration = importlib.import_module("console.migrations.0003_api_keys_hashed")
    old_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, "
            "user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [old_key, "2025-01-02 03:04:05", administrator.pk],
        )
    assert migration.carry_over_authtoken_keys(ApiKey, connection) == 1
    assert "authtoken_token" not in connection.introspection.table_names()
    carried = ApiKey.objects.get(user=administrator)
    assert carried.created.year == 2025 and carried.token_key == old_key[:15]
    assert old_key not in _every_stored_value()
    assert _api(old_key).get("/api/v1/apps/").status_code == 200
    # Nothing to carry over on a fresh installation.
    assert migration.carry_over_authtoken_keys(ApiKey, connection) == 0


def test_openapi_documents_the_token_header(admin_web, db):
    import yaml

    schema = yaml.safe_load(admin_web.get("/api/v1/schema/").content)
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "Token <key>" in scheme["description"]
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/apps/"]["get"]["security"]
