"""Issue 11: stored messages are a code and its parameters, said in the reader's language on pages and in the
API; texts written before (English sentences) are converted by the data migrations, unknown texts kept."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import translation

from applesync.messages import METADATA_UNREADABLE
from assignments.allocation import NO_LICENSES
from assignments.models import Assignment, License
from console import runs
from console.message_migrations import convert, convert_column, render_column
from console.messages import APPLE_ERROR, Message, apple_error, parse
from console.models import AuditEntry, Run
from tests import factories

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
APPLE_9709 = "There aren't enough assets available to complete this association."


def _failed_license(error, *, named: bool = True) -> License:
    app = factories.AppFactory(name="Keynote") if named else factories.AppFactory()
    group = factories.GroupFactory(name="iPads") if named else factories.GroupFactory()
    assignment = Assignment.objects.create(app=app, group=group, intent="required", license_type="device")
    return License.objects.create(
        app=app,
        assignment=assignment,
        license_type="device",
        device=factories.DeviceFactory(),
        state="failed",
        error_number=9709,
        error=error,
    )


def _stored(model, pk: int, field: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {field} FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_an_apple_error_is_stored_as_its_number_and_said_in_chinese_on_the_page_and_in_the_api(
    admin_web, admin_api
):
    lic = _failed_license(apple_error(9709, APPLE_9709))
    assert _stored(License, lic.pk, "error").startswith('{"code": "apple.error"')

    page = admin_web.get(reverse("assignments:licenses"), **ZH).content.decode()
    assert "Apple 错误 9709：可用的许可证不足。" in page and APPLE_9709 not in page
    english = admin_web.get(reverse("assignments:licenses"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Apple error 9709: There are not enough licenses available." in english

    # The API keeps its string field and says it in the request's language.
    row = admin_api.get(f"/api/v1/licenses/{lic.pk}/", **ZH).json()
    assert row["error"] == "Apple 错误 9709：可用的许可证不足。" and row["error_number"] == 9709
    assert admin_api.get(f"/api/v1/licenses/{lic.pk}/").json()["error"] == (
        "Apple error 9709: There are not enough licenses available."
    )


def test_an_apple_error_number_without_a_translation_keeps_apples_words():
    message = apple_error(9999, "Something new at Apple.")
    with translation.override("zh-hans"):
        assert str(message) == "Apple 错误 9999：Something new at Apple."
    assert parse(message.serialize()) == message


def test_a_run_error_with_parameters_is_said_in_the_readers_language(admin_web, admin_api):
    run = runs.finish(Run.objects.create(kind="allocate", status="running"), error=runs.LOST_RESTARTED(id=41))
    page = admin_web.get(reverse("run", args=[run.pk]), **ZH).content.decode()
    assert "#41" in page and "The worker running this stopped" not in page
    english = admin_web.get(reverse("run", args=[run.pk])).content.decode()
    assert "The worker running this stopped before it finished; it was started again as run #41." in english


def test_an_active_runs_stage_is_said_in_the_readers_language(admin_web):
    from django.utils.translation import gettext_lazy

    run = Run.objects.create(kind="allocate", status="running")
    runs.progress(run, 10, gettext_lazy("Reading assets"))
    page = admin_web.get(reverse("run-progress", args=[run.pk]), **ZH).content.decode()
    assert "正在读取资产" in page and "Reading assets" not in page


def test_the_audit_log_names_a_run_and_an_assignment_in_the_readers_language(admin_web, administrator):
    from console import audit

    lic = _failed_license(NO_LICENSES)
    audit.record(actor=administrator, action="assignment.update", obj=lic.assignment, after={"intent": "x"})
    run = Run.objects.create(kind="allocate")
    audit.record(actor=administrator, action="run.start", obj=run)
    assert isinstance(AuditEntry.objects.get(action="run.start").object_repr, Message)

    page = admin_web.get(reverse("audit-log"), **ZH).content.decode()
    assert "Keynote → iPads (必需)" in page  # names people typed stay as typed; the intent is translated
    assert f"分配许可证 #{run.pk}" in page
    english = admin_web.get(reverse("audit-log"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Keynote → iPads (Required)" in english and f"Allocate licenses #{run.pk}" in english

    # A message in an entry's before/after: words in the CSV too, not codes.
    audit.record(
        actor=administrator, action="sync.fail", obj=run, after={"error": apple_error(9709, APPLE_9709)}
    )
    csv = b"".join(admin_web.get(reverse("audit-log"), {"export": "csv"}, **ZH).streaming_content).decode()
    assert "Apple 错误 9709：可用的许可证不足。" in csv and "apple.error" not in csv and "run.name" not in csv


def test_a_message_too_long_for_its_column_is_shortened_not_refused():
    lic = _failed_license(apple_error(9999, "x" * 2000))
    lic.refresh_from_db()
    assert isinstance(lic.error, Message) and lic.error.code == APPLE_ERROR.code
    assert len(_stored(License, lic.pk, "error")) <= 500
    with translation.override("en"):
        assert str(lic.error).startswith("Apple error 9999: xxx") and str(lic.error).endswith("x…")


def test_a_long_nested_apple_error_is_shortened_inside_and_still_parses():
    message = METADATA_UNREADABLE(error=apple_error(9999, 'Apple said "no" ' * 100))
    stored = message.serialize(200)
    assert len(stored) <= 200
    back = parse(stored)
    assert isinstance(back, Message) and back.code == "sync.metadata_unreadable"
    with translation.override("en"):
        assert str(back).startswith('Store metadata could not be read (Apple error 9999: Apple said "no"')


def test_every_app_defines_its_message_codes_at_start_up():
    """A process that never imported the code writing a message (a web server showing a worker's rows) still
    knows every code: console loads each app's `messages` module when Django starts."""
    script = (
        "import django; django.setup(); from console.messages import CATALOGUE; "
        "print(' '.join(sorted(CATALOGUE)))"
    )
    codes = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=settings.BASE_DIR
    ).stdout.split()
    for code in (
        "license.no_licenses",
        "run.apple_too_slow",
        "sync.metadata_unreadable",
        "token.external_mdm",
    ):
        assert code in codes


def test_the_data_migration_turns_known_english_sentences_into_codes_and_keeps_the_rest():
    sentences = {"No licenses available": "license.no_licenses"}
    assert convert("No licenses available", sentences) == '{"code": "license.no_licenses"}'
    rows = {
        "No licenses available": NO_LICENSES,
        # Also in Chinese: a target's problem used to be stored in the language of whoever saved.
        "没有可用的许可证": NO_LICENSES,
        f"Apple error 9709: {APPLE_9709}": apple_error(9709, APPLE_9709),
        "A text nobody catalogued": "A text nobody catalogued",
    }
    made = {text: _failed_license("", named=False) for text in rows}
    for text, lic in made.items():
        License.objects.filter(pk=lic.pk).update(error=text)  # as an earlier version stored it
    assert convert_column(License, "error", sentences) == 3
    for text, lic in made.items():
        lic.refresh_from_db()
        assert lic.error == rows[text]
    assert convert_column(License, "error", sentences) == 0  # converted rows are left alone


def test_the_data_migration_back_writes_the_english_sentences_again():
    stored = _failed_license(apple_error(9709, APPLE_9709))
    with translation.override("zh-hans"):  # whoever migrates back, the earlier version reads English
        assert render_column(License, "error") == 1
    assert (
        _stored(License, stored.pk, "error") == "Apple error 9709: There are not enough licenses available."
    )
