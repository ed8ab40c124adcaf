"""Error pages: 404, 403 and 500 in the console's shell, translated, rendered with DEBUG off; an expected
refusal (403) is one line in the server log, not a traceback."""

from __future__ import annotations

import logging

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views.defaults import server_error

from tests import factories

pytestmark = pytest.mark.django_db


def test_404_page_in_the_shell(admin_web, settings):
    assert settings.DEBUG is False
    response = admin_web.get(reverse("tokens:detail", args=[987654]))
    assert response.status_code == 404
    page = response.content.decode()
    assert 'data-testid="error-404"' in page
    assert "The page you asked for does not exist, or you may not see it." in page
    assert 'class="sidenav"' in page  # the shell, with the navigation of a signed-in user
    assert "Traceback" not in page


def test_403_page_in_the_shell_and_translated(helpdesk_web):
    token = factories.VPPTokenFactory()
    response = helpdesk_web.post(reverse("tokens:sync", args=[token.pk]))
    assert response.status_code == 403
    assert 'data-testid="error-403"' in response.content.decode()
    assert "Your role may read this but not change it." in response.content.decode()
    chinese = helpdesk_web.post(reverse("tokens:sync", args=[token.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "不允许" in chinese.content.decode()


def test_500_page_renders_without_a_request_context_and_translated():
    request = RequestFactory().get("/")
    with translation.override("en"):
        response = server_error(request)
    assert response.status_code == 500
    page = response.content.decode()
    assert 'data-testid="server-error"' in page
    assert "Something went wrong" in page
    assert "Traceback" not in page
    with translation.override("zh-hans"):
        assert "出错了" in server_error(request).content.decode()


def test_expected_403_logs_one_line_and_no_traceback(helpdesk_web, helpdesk_api, caplog):
    token = factories.VPPTokenFactory()
    with caplog.at_level(logging.INFO):
        assert helpdesk_web.post(reverse("tokens:sync", args=[token.pk])).status_code == 403
        assert helpdesk_api.post(f"/api/v1/vpp-tokens/{token.pk}/sync/").status_code == 403
    forbidden = [r for r in caplog.records if r.name == "django.request"]
    assert len(forbidden) == 2
    assert all(r.exc_info is None and not r.exc_text for r in forbidden)
    assert "Traceback" not in caplog.text
