"""A SCIM client (an identity provider's account and token) and an HTTP SCIM client for scim2-tester.

scim2-client's network engine needs httpx2, which the console does not use; this engine sends the same
requests with `requests` (already a dependency) over real HTTP to the live server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from scim2_client import BaseSyncSCIMClient

from scim import services


class RequestsSCIMClient(BaseSyncSCIMClient):
    """scim2-client over `requests`, with the bearer token on every request."""

    def __init__(self, base_url: str, token: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_url = base_url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = urljoin(self.base_url, endpoint.lstrip("/"))
        base, target = urlsplit(self.base_url), urlsplit(url)
        return (base.scheme, base.netloc) == (target.scheme, target.netloc) and target.path.startswith(
            base.path
        )

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        content = kwargs.pop("content", None)
        if content is not None:
            kwargs["data"] = content
        return self.session.request(method, urljoin(self.base_url, url.lstrip("/")), timeout=30, **kwargs)

    def close(self) -> None:
        self.session.close()


def live_url(live_server) -> str:
    """The live server by address: "localhost" tries IPv6 first and costs a quarter-second a request."""
    return live_server.url.replace("://localhost", "://127.0.0.1")


@pytest.fixture
def scim_client(db):
    """(client, token) of an identity provider called "Entra ID"."""
    return services.scim_client_create(name="Entra ID", actor=None)


@pytest.fixture
def scim_api(scim_client):
    """Django's test client sending the SCIM client's bearer token."""
    from django.test import Client

    _client, token = scim_client
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


# The Apple side of the assignments tests: a token at the simulator and apps with real counts.
from tests.assignments.conftest import location, make_app  # noqa: E402, F401


@pytest.fixture
def scim_http(live_server, scim_client):
    """A `requests` session against the live console with the SCIM client's bearer token."""
    _client, token = scim_client
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    base = live_url(live_server) + "/scim/v2/"

    class Http:
        def __call__(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
            return session.request(method, base + path, json=body, params=params or None, timeout=30)

    yield Http()
    # Close the keep-alive connections: the live server's request threads then close their database
    # connections, which PostgreSQL otherwise still counts when the test database is dropped.
    session.close()
