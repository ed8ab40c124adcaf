"""CSV imports refuse NUL bytes and broken quoting with a row-level message; nothing is saved."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from directory import csv_import
from directory.models import DirectoryUser

pytestmark = pytest.mark.django_db

HEADER = "user_principal_name,display_name\n"
NUL_ROW = HEADER + "ana@example.com,Ana\nben@example.com,B\x00en\n"
UNTERMINATED = HEADER + 'ana@example.com,Ana\nben@example.com,"Ben\ncy@example.com,Cy\n'
TEXT_AFTER_QUOTE = HEADER + 'ana@example.com,"Ana"x\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (NUL_ROW, "Row 3: The row contains a NUL character (byte 0)."),
        (
            UNTERMINATED,
            "Row 3: The row is not valid CSV: a quoted cell is never closed (a quote mark is missing)",
        ),
        (TEXT_AFTER_QUOTE, "Row 2: The row is not valid CSV: a quoted cell has text after its closing quote"),
    ],
    ids=["nul", "unterminated-quote", "text-after-quote"],
)
def test_broken_csv_rows_are_refused_with_their_row_number_and_nothing_is_saved(
    content, message, administrator
):
    result = csv_import.preview("users", content.encode())
    assert not result.is_valid
    assert message in result.error_messages()
    with pytest.raises(ValidationError) as caught:
        csv_import.import_apply(kind="users", content=content.encode(), actor=administrator)
    assert message in caught.value.messages
    assert not DirectoryUser.objects.exists()


def test_a_nul_in_the_header_is_a_file_error():
    result = csv_import.preview("users", b"user_principal_name\x00,display_name\nana@example.com,Ana\n")
    assert result.file_errors == [
        "The header row contains a NUL character (byte 0); the file is not plain CSV text."
    ]


def test_broken_csv_through_the_page_and_the_api_shows_the_row_and_saves_nothing(admin_web, admin_api):
    page = admin_web.post(
        reverse("directory:import"),
        {"kind": "users", "file": SimpleUploadedFile("u.csv", NUL_ROW.encode())},
    ).content.decode()
    assert "<tr><td>3</td>" in page
    assert "The row contains a NUL character (byte 0)." in page
    response = admin_api.post(
        "/api/v1/directory-import/",
        {"kind": "users", "file": SimpleUploadedFile("u.csv", UNTERMINATED.encode()), "confirm": "true"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "never closed" in str(response.json())
    assert not DirectoryUser.objects.exists()
