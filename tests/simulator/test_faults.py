"""Injected faults."""

from __future__ import annotations

import time

import requests


def test_rate_limit_fault_is_429_9646_with_retry_after_for_count_requests(hq):
    hq.sim.add_fault("rate_limit", count=2, retry_after=7)
    for _ in range(2):
        response = hq.get("assets")
        assert (response.status_code, response.json()["errorNumber"]) == (429, 9646)
        assert response.headers["Retry-After"] == "7"
    assert hq.get("assets").status_code == 200


def test_unavailable_fault_is_a_503_with_retry_after(hq):
    hq.sim.add_fault("unavailable", retry_after=3)
    response = hq.get("assets")
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert hq.get("assets").status_code == 200


def test_internal_error_fault_is_500_9603(hq):
    hq.sim.add_fault("internal_error")
    response = hq.get("client/config")
    assert (response.status_code, response.json()["errorNumber"]) == (500, 9603)


def test_service_unavailable_fault_is_503_9729(hq):
    hq.sim.add_fault("service_unavailable_9729", retry_after=2)
    response = hq.get("users")
    assert (response.status_code, response.json()["errorNumber"]) == (503, 9729)
    assert response.headers["Retry-After"] == "2"


def test_slow_fault_delays_the_answer(hq):
    hq.sim.add_fault("slow", delay=0.3)
    started = time.monotonic()
    assert hq.get("assets").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_can_target_a_path_and_a_location(hq, schools):
    hq.sim.add_fault("internal_error", path="assignments", uid=hq.uid, count=5)
    assert hq.get("assets").status_code == 200
    assert schools.get("assignments").status_code == 200
    assert hq.get("assignments").status_code == 500
    hq.sim.clear_faults()
    assert hq.get("assignments").status_code == 200


def test_bump_version_changes_version_id_between_page_0_and_page_1(hq):
    hq.sim.add_fault("bump_version", path="assignments")
    first = hq.get("assignments").json()
    second = hq.get("assignments", pageIndex=1).json()
    assert first["versionId"] != second["versionId"]
    # The fault fired once: the next walk is stable.
    again = hq.get("assignments").json()
    assert hq.get("assignments", pageIndex=1).json()["versionId"] == again["versionId"]


def test_faults_are_listed_and_cleared_over_http(sim):
    root = sim.root_url + "/_simulator/faults"
    requests.post(root, json={"kind": "slow", "delay": 0.01, "count": 3}, timeout=5)
    assert requests.get(root, timeout=5).json()["faults"][0]["count"] == 3
    requests.delete(root, timeout=5)
    assert requests.get(root, timeout=5).json()["faults"] == []
    assert requests.post(root, json={"kind": "nope"}, timeout=5).status_code == 400
