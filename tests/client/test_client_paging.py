"""Paged reads: every page, in order, restart on versionId change, sinceVersionId deltas."""

import pytest

from vpp.client import PagedResult
from vpp.errors import BadRequest, DataChangedDuringRead
from vpp.types import Assignment, RequestUser


def key(assignment: Assignment):
    return (
        assignment.adam_id,
        assignment.pricing_param,
        assignment.serial_number or "",
        assignment.client_user_id or "",
    )


@pytest.fixture
def big_location(sim, make_client):
    """A location with 120 assignments spread over a few assets, read 7 at a time (18 pages)."""
    token = sim.generate_location(
        org_name="Big Org", location_name="Big location", assets=6, assignments=120, users=8
    )
    sim.update_settings(page_size=7)
    return token, make_client(token)


def truth(sim, token):
    snapshot = sim.location(sim.uid_of(token), include_assignments=True)
    return [
        (a["adamId"], a["pricingParam"], a.get("serialNumber") or "", a.get("clientUserId") or "")
        for a in snapshot["assignments"]
    ]


def test_reads_every_page_in_order(sim, big_location):
    token, client = big_location
    result = client.iter_assignments()
    assert isinstance(result, PagedResult)
    items = list(result)
    expected = truth(sim, token)
    assert len(expected) == 120
    assert sorted(map(key, items)) == sorted(expected)
    assert len(set(map(key, items))) == len(items)
    assert result.total_pages == 18
    assert result.restarts == 0
    assert result.version_id
    assert result.uid == sim.uid_of(token)

    # Same order as one big page: pages fetched in parallel are yielded in page order.
    sim.update_settings(page_size=1000)
    assert [key(a) for a in client.iter_assignments()] == [key(a) for a in items]


def test_a_paged_result_is_iterated_once(big_location):
    _, client = big_location
    result = client.iter_assets()
    list(result)
    with pytest.raises(RuntimeError):
        list(result)


def test_stopping_early_does_not_hang(big_location):
    _, client = big_location
    result = client.iter_assignments()
    for index, _item in enumerate(result):
        if index == 10:
            break
    assert result.version_id


def test_version_change_mid_walk_restarts_from_page_zero(sim, big_location):
    token, client = big_location
    sim.add_fault("bump_version", count=1)
    result = client.iter_assignments()
    items = list(result)
    assert result.restarts == 1
    # A restart yields items again: consumers upsert. Every assignment is there.
    assert set(map(key, items)) == set(truth(sim, token))
    assert len(items) > 120
    # The stored versionId is the one of the walk that completed: nothing changed since.
    assert list(client.iter_assignments(since_version_id=result.version_id)) == []


def test_data_that_keeps_changing_raises_after_three_restarts(sim, big_location):
    _, client = big_location
    sim.add_fault("bump_version", count=4)
    result = client.iter_assignments()
    with pytest.raises(DataChangedDuringRead):
        list(result)
    assert result.restarts == 3


def test_three_changes_are_still_survived(sim, big_location):
    _, client = big_location
    sim.update_settings(page_size=2)
    sim.add_fault("bump_version", count=3)
    result = client.iter_assets()
    items = list(result)
    assert result.restarts == 3
    assert len({a.ref for a in items}) == 6
    assert len(items) > 6  # the aborted walks' first pages came out too


def test_since_version_id_returns_only_new_assignments(sim, uid, client):
    sim.add_asset(uid, "900000002", totalCount=10)
    sim.update_settings(page_size=2)
    first = client.iter_assignments()
    before = list(first)
    assert first.version_id

    client.associate_assets(["900000002"], serial_numbers=["S1", "S2", "S3"])
    assert sim.wait_idle()

    delta = client.iter_assignments(since_version_id=first.version_id)
    new = list(delta)
    assert sorted(a.serial_number for a in new) == ["S1", "S2", "S3"]
    assert not set(map(key, new)) & set(map(key, before))
    assert delta.version_id != first.version_id
    assert list(client.iter_assignments(since_version_id=delta.version_id)) == []


def test_since_version_id_for_users(sim, client):
    start = client.iter_users()
    assert list(start) == []
    client.create_users([RequestUser("u-1", "u1@example.com"), RequestUser("u-2", "u2@example.com")])
    assert sim.wait_idle()
    users = list(client.iter_users(since_version_id=start.version_id))
    assert sorted(u.client_user_id for u in users) == ["u-1", "u-2"]
    assert all(u.status == "Registered" and u.invite_code for u in users)


def test_unknown_since_version_id_is_9721(client):
    with pytest.raises(BadRequest) as excinfo:
        list(client.iter_assignments(since_version_id="not-a-version"))
    assert excinfo.value.number == 9721


def test_filters_use_python_names(sim, uid, client):
    assets = list(client.iter_assets(product_type="Book"))
    assert assets and all(a.product_type == "Book" for a in assets)
    assert all(not a.device_assignable for a in assets)
    unlimited = [a for a in client.iter_assets(unlimited=True) if a.unlimited]
    assert unlimited
    [garageband] = client.iter_assets(adam_id="408709785")
    assert garageband.total_count == 20
