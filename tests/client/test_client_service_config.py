"""service/config is the only URL built from the base URL; it is cached per base URL for five minutes."""

import threading

import pytest
import requests

import vpp.client
from vpp.client import DEFAULT_BASE_URL, VPPClient, default_base_url
from vpp.errors import BadRequest


class CountingSession(requests.Session):
    """A real session that counts the requests it sends and how many were in flight at once."""

    def __init__(self):
        super().__init__()
        self.urls = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def request(self, method, url, *args, **kwargs):
        with self._lock:
            self.urls.append(url)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_service_config_is_shared_by_clients_of_the_same_base_url(sim, make_client, token):
    session = CountingSession()
    first = make_client(token, session=session)
    second = make_client(sim.mint_token(org_name="Acme Corp", location_name="Another"), session=session)
    first.client_config()
    second.client_config()
    first.service_config()
    assert sum(url.endswith("/service/config") for url in session.urls) == 1
    # Every other URL came from service/config's urls.
    assert first.service_config().urls["clientConfig"] == f"{sim.root_url}/mdm/v2/client/config"


def test_service_config_is_read_again_after_its_time_to_live(monkeypatch, make_client, token):
    monkeypatch.setattr(vpp.client, "SERVICE_CONFIG_TTL", 0.0)
    session = CountingSession()
    client = make_client(token, session=session)
    client.client_config()
    reads = sum(url.endswith("/service/config") for url in session.urls)
    client.client_config()
    assert sum(url.endswith("/service/config") for url in session.urls) > reads


def test_a_failing_refresh_keeps_the_last_good_copy(monkeypatch, sim, make_client, token, sleeps):
    client = make_client(token, max_retries=1)
    config = client.service_config()
    monkeypatch.setattr(vpp.client, "SERVICE_CONFIG_TTL", 0.0)
    sim.add_fault("internal_error", count=2, path="/service/config")
    assert client.service_config() == config


def test_pages_are_fetched_at_most_five_at_a_time(sim, make_client):
    token = sim.generate_location(
        org_name="Big Org", location_name="Parallel", assets=4, assignments=90, users=4
    )
    sim.update_settings(page_size=5)
    session = CountingSession()
    client = make_client(token, session=session)
    client.service_config()
    sim.add_fault("slow", count=18, delay=0.1, path="/mdm/v2/assignments")
    items = list(client.iter_assignments())
    assert len(items) == 90
    assert session.max_in_flight == 5


def test_default_base_url(monkeypatch, settings):
    settings.APPLE_VPP_BASE_URL = "http://django-setting/mdm/v2/"
    assert default_base_url() == "http://django-setting/mdm/v2/"
    settings.APPLE_VPP_BASE_URL = ""
    monkeypatch.setenv("APPLE_VPP_BASE_URL", "http://from-env/mdm/v2")
    assert default_base_url() == "http://from-env/mdm/v2"
    assert VPPClient("t").base_url == "http://from-env/mdm/v2/"
    monkeypatch.delenv("APPLE_VPP_BASE_URL")
    assert default_base_url() == DEFAULT_BASE_URL


def test_missing_service_config_urls_fall_back_to_the_documented_paths(sim, make_client, token):
    """An implementation whose service/config lists fewer URLs still works through the documented v2 paths."""
    sim.update_settings(omit_service_urls=["clientConfig", "getAssets", "eventStatus"])
    client = make_client(token)
    assert "clientConfig" not in client.service_config().urls
    assert client.client_config().uid == sim.uid_of(token)
    assert any(True for _ in client.iter_assets())


def test_a_url_with_no_documented_path_is_a_clear_error(sim, make_client, token):
    sim.update_settings(omit_service_urls=["contentMetadataLookup"])
    client = make_client(token)
    with pytest.raises(BadRequest, match="contentMetadataLookup"):
        client.lookup_metadata(["408709785"], country="us", platform="enterprisestore")
