"""Content metadata lookup and icons served by the simulator."""

from __future__ import annotations

import requests

GARAGEBAND = "408709785"
CUSTOM = "6478012345"
NOTABILITY = "360593530"  # demo: not sold in DE
WORD = "586447913"  # demo: localised name in DE


def lookup(sim, ids, cc="us", cookies=None, platform="enterprisestore"):
    params = {
        "version": 2,
        "id": ",".join(ids),
        "p": "mdm-lockup",
        "caller": "MDM",
        "platform": platform,
        "cc": cc,
        "l": "en",
    }
    response = requests.get(sim.lookup_url, params=params, cookies=cookies, timeout=5)
    assert response.status_code == 200
    return response.json()


def test_lookup_returns_store_metadata_and_an_icon_served_by_the_simulator(sim):
    data = lookup(sim, [GARAGEBAND, "361309726"])
    assert data["version"] == 2 and data["isAuthenticated"] is False
    assert data["meta"]["storefront"] == {"id": "143441", "cc": "US"}
    app = data["results"][GARAGEBAND]
    assert app["name"] == "GarageBand"
    assert app["bundleId"] == "com.apple.mobilegarageband"
    assert app["offers"][0]["version"]["display"]
    assert app["kind"] == "iosSoftware"
    assert app["isB2BCustomApp"] is False and app["isVppDeviceBasedLicensingEnabled"] is True
    assert "/us/" in app["url"]
    assert {"deviceFamilies", "releaseDate", "genreNames", "artistName"} <= set(app)
    artwork = app["artwork"][0]
    assert artwork["width"] == artwork["height"] == 512
    icon = requests.get(artwork["url"], timeout=5)
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_unknown_ids_are_simply_absent(sim):
    assert lookup(sim, ["1", GARAGEBAND])["results"].keys() == {GARAGEBAND}


def test_custom_app_needs_the_itvt_cookie_of_a_location_that_owns_it(sim, hq, schools):
    assert lookup(sim, [CUSTOM])["results"] == {}
    assert lookup(sim, [CUSTOM], cookies={"itvt": "garbage"})["results"] == {}
    assert lookup(sim, [CUSTOM], cookies={"itvt": schools.token})["results"] == {}  # does not own it
    result = lookup(sim, [CUSTOM], cookies={"itvt": hq.token})["results"][CUSTOM]
    assert result["isB2BCustomApp"] is True and result["bundleId"] == "com.contoso.fieldservice"
    sim.set_token_state(hq.uid, "revoked")
    assert lookup(sim, [CUSTOM], cookies={"itvt": hq.token})["results"] == {}


def test_storefront_availability_and_localised_names(sim):
    us = lookup(sim, [NOTABILITY, WORD], cc="us")["results"]
    de = lookup(sim, [NOTABILITY, WORD], cc="de")
    assert NOTABILITY in us and NOTABILITY not in de["results"]
    assert de["meta"]["storefront"]["cc"] == "DE"
    assert de["results"][WORD]["name"] != us[WORD]["name"]
    assert "/de/" in de["results"][WORD]["url"]


def test_location_country_change_is_reported_by_client_config(hq):
    hq.sim.set_country(hq.uid, "DE")
    assert hq.get("client/config").json()["countryISO2ACode"] == "DE"


def test_new_app_version_appears_in_lookup(sim):
    sim.set_app_version(GARAGEBAND, "9.9.9")
    assert lookup(sim, [GARAGEBAND])["results"][GARAGEBAND]["offers"][0]["version"]["display"] == "9.9.9"


def test_books_are_described_as_books(sim):
    book = lookup(sim, ["881256329"], platform="volumestore")["results"]["881256329"]
    assert book["kind"] == "ebook" and "bundleId" not in book and "books.apple.com" in book["url"]
