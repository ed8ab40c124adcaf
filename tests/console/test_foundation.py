"""The console shell: sign-in, roles, health, audit log, encryption at rest, languages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console import audit, crypto
from tests import factories

pytestmark = pytest.mark.django_db

PAGES = ["home", "audit-log"]


@pytest.mark.parametrize("page", PAGES)
def test_pages_by_persona(page, admin_web, helpdesk_web, anon_web, no_role_user, client):
    url = reverse(page)
    assert admin_web.get(url).status_code == 200
    assert helpdesk_web.get(url).status_code == 200
    response = anon_web.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(no_role_user)
    assert client.get(url).status_code == 404


def test_login_page_signs_in_and_out(anon_web, administrator):
    assert anon_web.get(reverse("login")).status_code == 200
    response = anon_web.post(
        reverse("login"), {"username": administrator.username, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert anon_web.get(reverse("home")).status_code == 200
    anon_web.post(reverse("logout"))
    assert anon_web.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(anon_web, administrator):
    response = anon_web.post(reverse("login"), {"username": administrator.username, "password": "nope"})
    assert response.status_code == 200
    assert "didn" in response.content.decode()


def test_superuser_counts_as_administrator(client, django_user_model):
    from console.roles import is_administrator

    su = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    assert is_administrator(su)
    client.force_login(su)
    assert client.get(reverse("home")).status_code == 200


def test_healthz_reports_database_and_broker(anon_web):
    from console.tasks import heartbeat

    heartbeat()
    response = anon_web.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"


def test_healthz_answers_503_when_the_broker_is_down(anon_web, settings):
    from config.celery_app import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = anon_web.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")


def test_audit_record_keeps_actor_object_before_after_and_never_secrets(administrator):
    token = factories.VPPTokenFactory()
    entry = audit.record(
        actor=administrator,
        action="token.update",
        obj=token,
        before={"name": "old", "token_content": "secret"},
        after={"name": "new"},
    )
    entry.refresh_from_db()
    assert entry.actor_name == administrator.username
    assert entry.object_type == "tokens.vpptoken"
    assert entry.object_id == str(token.pk)
    assert entry.before == {"name": "old"}
    assert entry.after == {"name": "new"}
    assert entry.created_at is not None


def test_audit_log_page_filters_and_exports_csv(admin_web, administrator):
    audit.record(
        actor=administrator, action="token.create", object_type="tokens.vpptoken", object_repr="Alpha"
    )
    audit.record(actor=None, action="sync.finish", object_type="tokens.syncrun", object_repr="Beta")
    page = admin_web.get(reverse("audit-log"), {"action": "token"}).content.decode()
    assert "Alpha" in page
    assert "Beta" not in page
    response = admin_web.get(reverse("audit-log"), {"action": "sync", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("Time,Actor,Action")
    assert "Beta" in body and "Alpha" not in body
    assert ",system," in body


def test_audit_log_page_query_count_does_not_grow_with_rows(admin_web, administrator):
    for i in range(3):
        audit.record(actor=administrator, action="a", object_repr=str(i))
    with CaptureQueriesContext(connection) as few:
        admin_web.get(reverse("audit-log"))
    for i in range(30):
        audit.record(actor=administrator, action="a", object_repr=str(i))
    with CaptureQueriesContext(connection) as many:
        admin_web.get(reverse("audit-log"))
    assert len(many) == len(few)
    assert len(many) <= 10


def test_encrypted_field_stores_ciphertext_only():
    token = factories.VPPTokenFactory(token_content="very-secret-token-content")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_content FROM tokens_vpptoken WHERE id = %s", [token.pk])
        stored = cursor.fetchone()[0]
    assert "very-secret" not in stored
    assert crypto.decrypt(stored) == "very-secret-token-content"
    token.refresh_from_db()
    assert token.token_content == "very-secret-token-content"


def test_local_key_is_generated_once_with_private_mode(tmp_path):
    path = tmp_path / "var" / "key"
    first = crypto.local_key(path)
    assert crypto.local_key(path) == first
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _production_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_ALLOWED_HOSTS="console.example.com",
        **extra,
    )
    return env


def test_production_refuses_to_start_without_an_encryption_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr


def test_language_switch_to_simplified_chinese(admin_web):
    response = admin_web.post(reverse("set_language"), {"language": "zh-hans", "next": "/"}, follow=True)
    page = response.content.decode()
    assert 'lang="zh-hans"' in page
    assert "主页" in page


@pytest.mark.parametrize("url", ["/api/v1/", "/api/v1/audit-log/"])
def test_api_by_persona(url, admin_api, helpdesk_api, anon_api, no_role_user):
    from tests.conftest import _api_client

    assert admin_api.get(url).status_code == 200
    assert helpdesk_api.get(url).status_code == 200
    assert anon_api.get(url).status_code == 401
    assert _api_client(no_role_user).get(url).status_code == 404


def test_audit_api_is_read_only_and_paginated(admin_api, administrator):
    audit.record(actor=administrator, action="x.y", object_repr="thing")
    body = admin_api.get("/api/v1/audit-log/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["results"][0]["action"] == "x.y"
    assert admin_api.post("/api/v1/audit-log/", {}).status_code == 405


def test_openapi_schema_and_offline_docs(anon_web, admin_web):
    schema = admin_web.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    docs = admin_web.get("/api/v1/docs/").content.decode()
    # Swagger UI comes from the sidecar package: served locally, nothing from a CDN.
    assert "swagger-ui" in docs
    assert "cdn.jsdelivr" not in docs and "unpkg.com" not in docs


def test_drf_token_from_management_command(administrator, anon_api):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("drf_create_token", administrator.username, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    words = lines[0].split()
    assert words[:2] == ["Generated", "token"] and words[3:] == ["for", "user", administrator.username]
    key = words[2]
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = anon_api.get("/api/v1/audit-log/")
    assert response.status_code == 200
    # The bootstrap is in the audit log, done by "system"; the key is nowhere in it.
    entry = response.json()["results"][0]
    assert (entry["action"], entry["actor_name"]) == ("api_key.create", "system")
    assert key not in response.content.decode()


@pytest.mark.parametrize(
    ("value", "exported"),
    [("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("-12.5", "-12.5")],
)
def test_b6_csv_export_neutralises_formulas(admin_web, administrator, value, exported):
    import csv
    import io

    audit.record(actor=administrator, action="x", object_repr=value)
    response = admin_web.get(reverse("audit-log"), {"export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][4] == exported
