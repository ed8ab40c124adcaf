"""Store metadata through contentMetadataLookup."""

import requests

GARAGEBAND = "408709785"
CUSTOM_APP = "6478012345"  # a custom (B2B) app: only visible with the owner's itvt cookie


def test_t10_lookup_returns_typed_metadata_for_the_store(client):
    config = client.client_config()
    found = client.lookup_metadata(
        [GARAGEBAND, CUSTOM_APP, "999999999"], country=config.country_code, platform=config.default_platform
    )

    assert set(found) == {GARAGEBAND, CUSTOM_APP}  # unknown ids are simply absent
    garageband = found[GARAGEBAND]
    assert garageband.name == "GarageBand"
    assert garageband.bundle_id == "com.apple.mobilegarageband"
    assert garageband.version
    assert garageband.icon_url and "size=512" in garageband.icon_url  # the largest artwork
    assert garageband.store_url and "/us/" in garageband.store_url
    assert garageband.platforms == ("iOS",)
    assert garageband.kind == "iosSoftware"
    assert garageband.release_date is not None
    assert found[CUSTOM_APP].is_custom_b2b


def test_the_token_goes_as_itvt_cookie_for_custom_apps(make_client):
    stranger = make_client("bm90IGEgcmVhbCB0b2tlbg==")
    found = stranger.lookup_metadata([GARAGEBAND, CUSTOM_APP], country="us", platform="enterprisestore")
    assert set(found) == {GARAGEBAND}


def test_country_selects_the_storefront(client):
    found = client.lookup_metadata([GARAGEBAND], country="DE", platform="enterprisestore")
    assert "/de/" in found[GARAGEBAND].store_url


def test_ids_are_batched_by_100_with_the_documented_query(make_client, token):
    session = requests.Session()
    urls = []
    session.hooks["response"].append(lambda response, *args, **kwargs: urls.append(response.request.url))
    client = make_client(token, session=session)
    ids = [GARAGEBAND] + [str(800000000 + n) for n in range(249)]

    found = client.lookup_metadata([*ids, GARAGEBAND], country="US", platform="volumestore")

    lookups = [u for u in urls if "/wa/lookup" in u]
    assert len(lookups) == 3
    assert all(
        "version=2" in u and "p=mdm-lockup" in u and "caller=MDM" in u and "cc=us" in u and "l=en" in u
        for u in lookups
    )
    assert "platform=volumestore" in lookups[0]
    assert set(found) == {GARAGEBAND}
    session.close()
