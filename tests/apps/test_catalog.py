"""The Apps & Books catalogue: pages and API (T12, A4, A5, B6, M4)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.models import App
from tests import factories

pytestmark = pytest.mark.django_db

API_FIELDS = {
    "id",
    "vpp_token",
    "adam_id",
    "pricing_param",
    "product_type",
    "name",
    "bundle_id",
    "version",
    "platforms",
    "store_url",
    "total_licenses",
    "used_licenses",
    "available_licenses",
    "supports_device_licensing",
    "supports_user_licensing",
}


@pytest.fixture
def app(db):
    return factories.AppFactory(name="Keynote", bundle_id="com.apple.Keynote", adam_id="361285480")


def pages(app):
    return [reverse("apps:list"), reverse("apps:books"), reverse("apps:detail", args=[app.pk])]


def test_m4_pages_by_persona(app, admin_web, helpdesk_web, anon_web, no_role_user):
    from django.test import Client

    nobody = Client()
    nobody.force_login(no_role_user)
    for url in pages(app):
        assert admin_web.get(url).status_code == 200, url
        assert helpdesk_web.get(url).status_code == 200, url
        response = anon_web.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
        assert nobody.get(url).status_code == 404, url


def test_m4_api_by_persona(app, admin_api, helpdesk_api, anon_api, no_role_user):
    from rest_framework.test import APIClient

    from tests.conftest import api_key_for

    list_url, detail_url = "/api/v1/apps/", f"/api/v1/apps/{app.pk}/"
    for url in (list_url, detail_url):
        assert admin_api.get(url).status_code == 200
        assert helpdesk_api.get(url).status_code == 200
        assert anon_api.get(url).status_code == 401
    nobody = APIClient()
    nobody.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(no_role_user)}")
    assert nobody.get(list_url).status_code == 404
    # Read-only: nobody writes apps through the API (Apple is the source).
    assert admin_api.post(list_url, {"adam_id": "1"}).status_code == 405
    assert helpdesk_api.delete(detail_url).status_code in (403, 405)


def test_api_fields_and_filters_match_the_contract(admin_api):
    token = factories.VPPTokenFactory(name="HQ")
    keynote = factories.AppFactory(vpp_token=token, name="Keynote", bundle_id="com.apple.Keynote")
    book = factories.AppFactory(vpp_token=token, name="Swift Book", product_type="book")
    other = factories.AppFactory(name="Keynote")
    body = admin_api.get("/api/v1/apps/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert set(body["results"][0]) >= API_FIELDS

    def ids(**query):
        return {r["id"] for r in admin_api.get("/api/v1/apps/", query).json()["results"]}

    assert ids(vpp_token=token.pk) == {keynote.pk, book.pk}
    assert ids(search="keynote") == {keynote.pk, other.pk}
    assert ids(search="com.apple.Keynote") == {keynote.pk}
    assert ids(search=keynote.adam_id) == {keynote.pk}
    assert ids(product_type="book") == {book.pk}


def test_t12_app_on_two_tokens_is_listed_twice_with_the_token_name(admin_web):
    first = factories.AppFactory(adam_id="408709785", name="GarageBand", vpp_token__name="Paris")
    second = factories.AppFactory(adam_id="408709785", name="GarageBand", vpp_token__name="Berlin")
    page = admin_web.get(reverse("apps:list")).content.decode()
    assert page.count("GarageBand") >= 2
    assert "Paris" in page and "Berlin" in page
    detail = admin_web.get(reverse("apps:detail", args=[first.pk])).content.decode()
    assert "Berlin" in detail and reverse("apps:detail", args=[second.pk]) in detail


def test_a5_detail_shows_total_used_available_retired(admin_web):
    app = factories.AppFactory(
        name="Numbers", total_licenses=200, used_licenses=8, available_licenses=192, retired_licenses=3
    )
    response = admin_web.get(reverse("apps:detail", args=[app.pk]))
    counts = response.content.decode()
    for value in ("200", "8", "192", "3"):
        assert f'<span class="tile-value">{value}</span>' in counts


def test_a4_books_page_lists_books_only(admin_web):
    factories.AppFactory(name="Pages App")
    factories.AppFactory(name="Swift Book", product_type="book")
    page = admin_web.get(reverse("apps:books")).content.decode()
    assert "Swift Book" in page and "Pages App" not in page


def test_list_filters_search_type_platform_licensing_custom(admin_web):
    factories.AppFactory(name="Alpha", platforms=["iOS"], supports_device_licensing=True)
    factories.AppFactory(
        name="Bravo", platforms=["macOS"], supports_device_licensing=False, is_custom_app=True
    )

    def names(**query):
        html = admin_web.get(reverse("apps:list"), query).content.decode()
        return {n for n in ("Alpha", "Bravo") if n in html}

    assert names(search="alp") == {"Alpha"}
    assert names(platform="macOS") == {"Bravo"}
    assert names(licensing="device") == {"Alpha"}
    assert names(custom="true") == {"Bravo"}
    assert names(ordering="-name") == {"Alpha", "Bravo"}


def test_b6_csv_export_of_the_filtered_list(admin_web, helpdesk_web):
    factories.AppFactory(name="Alpha", vpp_token__name="Paris")
    factories.AppFactory(name="Bravo")
    response = helpdesk_web.get(reverse("apps:list"), {"search": "Alpha", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    lines = body.splitlines()
    assert lines[0].startswith("Name,Token,Type")
    assert len(lines) == 2 and "Alpha" in lines[1] and "Paris" in lines[1]


def test_htmx_request_gets_only_the_table(admin_web, app):
    response = admin_web.get(reverse("apps:list"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'data-testid="list-table"' in html and "<html" not in html


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", [reverse("apps:list"), reverse("apps:books"), "/api/v1/apps/"])
def test_list_query_count_does_not_grow_with_rows(url, admin_web):
    for i in range(3):
        factories.AppFactory(product_type="book", name=f"Book {i}")
    few = _queries(admin_web, url)
    for i in range(30):
        factories.AppFactory(product_type="book", name=f"More {i}")
    assert _queries(admin_web, url) == few


def test_detail_query_count_does_not_grow_with_other_tokens(admin_web):
    app = factories.AppFactory(adam_id="42")
    factories.AppFactory(adam_id="42")
    url = reverse("apps:detail", args=[app.pk])
    few = _queries(admin_web, url)
    for _ in range(10):
        factories.AppFactory(adam_id="42")
    assert _queries(admin_web, url) == few


def test_catalogue_after_a_real_sync_shows_metadata(apple, admin_web):
    from tests.tokens.test_sync import connect, sync

    token = connect(apple)
    sync(token)
    page = admin_web.get(reverse("apps:list"), {"search": "GarageBand"}).content.decode()
    assert "GarageBand" in page and token.name in page
    garageband = App.objects.get(vpp_token=token, adam_id="408709785")
    detail = admin_web.get(reverse("apps:detail", args=[garageband.pk])).content.decode()
    assert "com.apple.mobilegarageband" in detail and garageband.icon_url in detail


CASE_NAMES = ["Zoom", "iMovie", "keynote", "Numbers"]
CASE_ORDER = ["iMovie", "keynote", "Numbers", "Zoom"]


def test_list_sorts_names_case_insensitively_on_page_and_api(admin_web, admin_api):
    token = factories.VPPTokenFactory()
    for name in CASE_NAMES:
        factories.AppFactory(vpp_token=token, name=name)
    api = [a["name"] for a in admin_api.get("/api/v1/apps/").json()["results"]]
    assert api == CASE_ORDER
    api = [a["name"] for a in admin_api.get("/api/v1/apps/?ordering=-name").json()["results"]]
    assert api == CASE_ORDER[::-1]
    api = [a["name"] for a in admin_api.get("/api/v1/apps/?ordering=name").json()["results"]]
    assert api == CASE_ORDER
    cases = (("", CASE_ORDER), ("?ordering=name", CASE_ORDER), ("?ordering=-name", CASE_ORDER[::-1]))
    for query, expected in cases:
        rows = admin_web.get(reverse("apps:list") + query).context["object_list"]
        assert [a.name for a in rows] == expected, query


def test_list_and_detail_show_the_synced_icon_lazily_with_alt_text(admin_web):
    app = factories.AppFactory(
        name="Keynote", icon_url="http://127.0.0.1:8001/_simulator/icons/361285480.png"
    )
    factories.AppFactory(name="No icon", icon_url="")
    page = admin_web.get(reverse("apps:list")).content.decode()
    detail = admin_web.get(reverse("apps:detail", args=[app.pk])).content.decode()
    for html in (page, detail):
        assert f'src="{app.icon_url}"' in html
        img = html[html.index(f'src="{app.icon_url}"') - 200 : html.index(f'src="{app.icon_url}"') + 200]
        assert 'loading="lazy"' in img
        assert 'alt="Icon of Keynote"' in img
    assert page.count("<img") == 1  # an app without an icon gets no broken image
