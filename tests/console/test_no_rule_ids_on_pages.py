"""People see words, not codes: no rule ids such as "(S6)" on any page, in either language, nor in the API's
documentation. Rule ids belong to docs/rules.md, code comments and test names."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from tests import factories

RULE_ID_IN_PARENTHESES = re.compile(r"[(（][^()（）<>]*\b[TASMDB]\d{1,2}\b[^()（）<>]*[)）]")
RULE_ID = re.compile(r"\b[TASMDB]\d{1,2}\b")
# Never followed: they change state, sign out, switch language or only repeat a page as CSV.
SKIP = re.compile(r"^/(logout|i18n|django-admin|api/|static/|tokens/notify/)|[?&]export=")
PER_PATTERN = 3


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)


def _demo_like_data() -> list[str]:
    """The demo directory (kiosk, App Store blocked, DEP without a primary user, a user without an Apple ID),
    a token with an app and a book, an API key; returns the pages where the warnings show."""
    from directory.demo import load_directory_demo
    from directory.models import Device, DirectoryUser

    load_directory_demo()
    token = factories.VPPTokenFactory(name="Contoso Schools")
    factories.AppFactory(vpp_token=token, name="GarageBand")
    factories.AppFactory(vpp_token=token, name="Field Guide", product_type="book")
    special = [
        *Device.objects.filter(kiosk_mode=True),
        *Device.objects.filter(app_store_allowed=False),
        *Device.objects.filter(dep_enrolled=True, primary_user__isnull=True)[:1],
    ]
    pages = [reverse("directory:device-detail", args=[d.pk]) for d in special]
    pages += [reverse("directory:device-retire", args=[d.pk]) for d in special[:1]]
    without_apple_id = DirectoryUser.objects.filter(managed_apple_id="").first()
    pages += [
        reverse("directory:user-detail", args=[without_apple_id.pk]),
        reverse("directory:user-deactivate", args=[without_apple_id.pk]),
    ]
    return pages


def _crawl(web, seeds: list[str]) -> dict[str, str]:
    """Every console page reachable by links from the home page (at most a few per URL pattern)."""
    seen: dict[str, str] = {}
    per_pattern: dict[str, int] = {}
    queue = ["/", reverse("api-keys"), *seeds]
    forced = set(seeds)
    while queue:
        url = queue.pop(0)
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/") or SKIP.search(url):
            continue
        path = parts.path
        if path in seen:
            continue
        pattern = re.sub(r"\d+", "N", path)
        if path not in forced and per_pattern.get(pattern, 0) >= PER_PATTERN:
            continue
        per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
        response = web.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            seen[path] = ""
            continue
        html = response.content.decode()
        seen[path] = html
        parser = _Links()
        parser.feed(html)
        queue.extend(parser.links)
    return {p: h for p, h in seen.items() if h}


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_b7_no_rule_ids_on_any_page(admin_web, administrator, language):
    from console.models import ApiKey

    ApiKey.objects.create(user=administrator, expiry=None, name="Inventory script")
    seeds = _demo_like_data()
    admin_web.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    pages = _crawl(admin_web, seeds)
    # The crawl reached the pages that showed rule ids before, and the rest of the console.
    assert set(seeds) <= set(pages)
    for must in ("/", "/apps/", "/directory/users/", "/directory/groups/", "/tokens/", "/audit-log/"):
        assert must in pages, must
    assert len(pages) > 30
    if language == "zh-hans":
        assert "设备" in pages["/directory/devices/"]
    found = {path: RULE_ID_IN_PARENTHESES.findall(html) for path, html in pages.items()}
    assert not {path: ids for path, ids in found.items() if ids}


@pytest.mark.django_db
def test_no_rule_ids_in_the_api_documentation(admin_web):
    schema = admin_web.get("/api/v1/schema/").content.decode()
    assert "securitySchemes" in schema
    assert not RULE_ID.findall(schema)
