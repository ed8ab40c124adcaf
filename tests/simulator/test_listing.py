"""Listing endpoints: filters, page-index paging, versionId and sinceVersionId."""

from __future__ import annotations

GARAGEBAND = "408709785"
TEAMS = "1113153706"
BOOK = "881256329"


def walk(session, endpoint, key, **params):
    pages = []
    page_index = 0
    while True:
        data = session.get(endpoint, pageIndex=page_index, **params).json()
        pages.append(data)
        if "nextPageIndex" not in data:
            return pages, [item for page in pages for item in page[key]]
        assert data["nextPageIndex"] == page_index + 1
        page_index = data["nextPageIndex"]


def test_assets_carry_counts_and_apple_fields(hq):
    assets = hq.get("assets").json()["assets"]
    assert len(assets) == 17
    for asset in assets:
        assert set(asset) == {
            "adamId",
            "pricingParam",
            "productType",
            "assignedCount",
            "availableCount",
            "retiredCount",
            "totalCount",
            "deviceAssignable",
            "revocable",
            "supportedPlatforms",
        }
        assert asset["totalCount"] == asset["assignedCount"] + asset["availableCount"]


def test_asset_filters(hq):
    assert [a["adamId"] for a in hq.get("assets", productType="Book").json()["assets"]] == [BOOK]
    not_device = {a["adamId"] for a in hq.get("assets", deviceAssignable="false").json()["assets"]}
    assert not_device == {BOOK, "546505307"}
    assert [a["adamId"] for a in hq.get("assets", revocable="false").json()["assets"]] == [BOOK]
    assert hq.get("assets", adamId="1").json()["assets"] == []
    assert [a["adamId"] for a in hq.get("assets", maxAvailableCount=0).json()["assets"]] == ["425073498"]
    big = hq.get("assets", minAssignedCount=10, maxAssignedCount=11).json()["assets"]
    assert big and all(10 <= a["assignedCount"] <= 11 for a in big)
    assert hq.get("assets", pricingParam="PLUS").json()["assets"] == []
    assert hq.get("assets", revocable="maybe").json()["errorNumber"] == 9602


def test_unlimited_assets_report_int32_max_and_can_be_listed_or_excluded(hq):
    [teams] = hq.get("assets", adamId=TEAMS).json()["assets"]
    assert teams["totalCount"] == 2147483647
    with_flag = hq.get("assets", unlimited="true").json()
    assert [a["adamId"] for a in with_flag["unlimitedAssets"]] == [TEAMS]
    assert "totalCount" not in with_flag["unlimitedAssets"][0]
    assert TEAMS not in {a["adamId"] for a in hq.get("assets", unlimited="false").json()["assets"]}


def test_paging_has_next_page_index_except_on_the_last_page(hq):
    hq.sim.update_settings(page_size=7)
    pages, assets = walk(hq, "assets", "assets")
    assert len(assets) == 17 and len({(a["adamId"], a["pricingParam"]) for a in assets}) == 17
    assert [p["currentPageIndex"] for p in pages] == [0, 1, 2]
    assert [p["size"] for p in pages] == [7, 7, 3]
    assert all(p["totalPages"] == 3 for p in pages)
    assert "nextPageIndex" not in pages[-1]
    assert len({p["versionId"] for p in pages}) == 1


def test_page_index_out_of_range_is_9650(hq):
    for page_index in (-1, 1, 99):
        response = hq.get("assets", pageIndex=page_index)
        assert (response.status_code, response.json()["errorNumber"]) == (400, 9650)


def test_empty_listing_is_one_empty_page(new_location):
    data = new_location().get("assignments").json()
    assert data["assignments"] == [] and data["totalPages"] == 1 and "nextPageIndex" not in data


def test_assignments_walk_returns_every_assignment_once(hq):
    pages, assignments = walk(hq, "assignments", "assignments")
    assert len(pages) == 2  # 102 demo assignments, page size 100
    keys = {(a["adamId"], a.get("serialNumber"), a.get("clientUserId")) for a in assignments}
    assert len(keys) == len(assignments) == 102
    assert all(("serialNumber" in a) != ("clientUserId" in a) for a in assignments)


def test_assignment_filters(hq):
    by_serial = hq.get("assignments", serialNumber="C02HQD00001").json()["assignments"]
    assert by_serial and all(a["serialNumber"] == "C02HQD00001" for a in by_serial)
    by_user = hq.get("assignments", clientUserId="hq-user-001").json()["assignments"]
    assert {a["adamId"] for a in by_user} == {"951937596", TEAMS, "546505307", BOOK}
    assert all(
        a["adamId"] == GARAGEBAND for a in hq.get("assignments", adamId=GARAGEBAND).json()["assignments"]
    )
    assert hq.get("assignments", adamId=BOOK, pricingParam="PLUS").json()["assignments"] == []
    with_state = hq.get("assignments", clientUserId="hq-user-001", includeUserState="true").json()[
        "assignments"
    ]
    assert all(a["userStatus"] == "Associated" and a["idHash"] for a in with_state)
    assert "userStatus" not in by_user[0]


def test_exclude_inactive_users_drops_assignments_of_retired_users(hq):
    hq.run("users/retire", {"users": [{"clientUserId": "hq-user-002"}]})
    # The book licence stays with the retired user (irrevocable) but is not "active".
    book = hq.get("assignments", adamId=BOOK).json()["assignments"]
    assert {a["clientUserId"] for a in book} == {"hq-user-001", "hq-user-002"}
    active = hq.get("assignments", adamId=BOOK, excludeInactiveUsers="true").json()["assignments"]
    assert {a["clientUserId"] for a in active} == {"hq-user-001"}


def test_version_id_changes_on_every_write_per_dataset(hq):
    assets_v = hq.get("assets").json()["versionId"]
    assignments_v = hq.get("assignments").json()["versionId"]
    users_v = hq.get("users").json()["versionId"]
    hq.run("users/create", {"users": [{"clientUserId": "v-user"}]})
    assert hq.get("users").json()["versionId"] != users_v
    assert hq.get("assignments").json()["versionId"] == assignments_v
    hq.run("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["V1"]})
    assert hq.get("assignments").json()["versionId"] != assignments_v
    assert hq.get("assets").json()["versionId"] != assets_v


def test_since_version_id_returns_only_records_modified_after_that_version(hq):
    assignments_v = hq.get("assignments").json()["versionId"]
    users_v = hq.get("users").json()["versionId"]
    empty = hq.get("assignments", sinceVersionId=assignments_v).json()
    assert empty["assignments"] == []
    hq.run("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["D1", "D2"]})
    hq.run("users/create", {"users": [{"clientUserId": "delta-user"}]})
    delta = hq.get("assignments", sinceVersionId=assignments_v).json()["assignments"]
    assert sorted(a["serialNumber"] for a in delta) == ["D1", "D2"]
    users = hq.get("users", sinceVersionId=users_v).json()["users"]
    assert [u["clientUserId"] for u in users] == ["delta-user"]
    # Removals produce no tombstones: the delta after a disassociation is empty.
    after = hq.get("assignments").json()["versionId"]
    hq.run("assets/disassociate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["D1"]})
    assert hq.get("assignments", sinceVersionId=after).json()["assignments"] == []


def test_unknown_since_version_id_is_9721(hq):
    for endpoint in ("assignments", "users"):
        response = hq.get(endpoint, sinceVersionId="not-a-version")
        assert (response.status_code, response.json()["errorNumber"]) == (400, 9721)
    # A versionId of another dataset is not valid either.
    assets_v = hq.get("assets").json()["versionId"]
    assert hq.get("assignments", sinceVersionId=assets_v).json()["errorNumber"] == 9721


def test_users_filters(hq):
    users = hq.get("users").json()["users"]
    assert {u["status"] for u in users} == {"Associated", "Registered", "Retired"}
    assert all(u["status"] != "Retired" for u in hq.get("users", activeOnly="true").json()["users"])
    assert [u["clientUserId"] for u in hq.get("users", retiredOnly="true").json()["users"]] == ["hq-user-004"]
    [alice] = hq.get("users", clientUserId="hq-user-001").json()["users"]
    assert alice["email"] == "alice@contoso.example"
    assert hq.get("users", activeOnly="true", retiredOnly="true").json()["errorNumber"] == 9602


def test_large_generated_location_pages_quickly(sim):
    token = sim.generate_location(org_name="Big", location_name="Big", assets=50, assignments=20000, users=10)
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    first = session.get(sim.base_url + "assignments", timeout=10).json()
    assert first["totalPages"] == 200
    last = session.get(sim.base_url + "assignments", params={"pageIndex": 199}, timeout=10).json()
    assert "nextPageIndex" not in last and last["size"] == 100
    assets = session.get(sim.base_url + "assets", timeout=10).json()["assets"]
    assert sum(a["assignedCount"] for a in assets) == 20000
