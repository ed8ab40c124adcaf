"""End-to-end figures: a full sync of a large location, list pages and the API over a big catalogue, and
allocating licenses to a large group. Apple is the simulator over loopback HTTP; the database is whatever
DATABASE_URL says (SQLite by default)."""

from __future__ import annotations

import os

import pytest
from django.test import Client

from applesync.sync import run_sync
from tests import factories
from tokens.models import SyncRun
from tokens.sync import request_sync
from vpp.simulator.testing import running_simulator

pytestmark = pytest.mark.django_db(transaction=True)

# BENCH_ASSIGNMENTS=1000000 make bench PYTEST_ARGS="-k full_sync" measures the large case.
ASSETS = int(os.environ.get("BENCH_ASSETS", "2000"))
ASSIGNMENTS = int(os.environ.get("BENCH_ASSIGNMENTS", "200000"))
SYNC_ROUNDS = int(os.environ.get("BENCH_SYNC_ROUNDS", "2"))


def _large_token(simulator):
    content = simulator.generate_location(
        org_name="Bench", location_name="Large", assets=ASSETS, assignments=ASSIGNMENTS, users=500
    )
    uid = simulator.uid_of(content)
    token = factories.VPPTokenFactory(token_content=content, location_uid=uid)
    simulator.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="bench")
    return token


def test_bench_full_sync_large_location(benchmark, settings):
    with running_simulator(page_size=1000) as simulator:
        settings.APPLE_VPP_BASE_URL = simulator.base_url
        token = _large_token(simulator)

        def full_sync() -> SyncRun:
            run, _ = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)
            return run_sync(run_id=run.pk)

        run = benchmark.pedantic(full_sync, rounds=SYNC_ROUNDS, iterations=1)
        assert run.status == "completed", run.error
        assert run.assignments_count == ASSIGNMENTS
        assert token.apps.count() == ASSETS


@pytest.fixture
def big_catalogue(db):
    token = factories.VPPTokenFactory()
    factories.AppFactory.create_batch(5_000, vpp_token=token)
    admin = factories.AdministratorFactory()
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize("url", ["/apps/", "/apps/?search=App%2049", "/api/v1/apps/", "/apps/?export=csv"])
def test_bench_catalogue_5k_apps(benchmark, big_catalogue, url):
    def get():
        response = big_catalogue.get(url)
        if response.streaming:
            b"".join(response.streaming_content)
        return response.status_code

    assert benchmark.pedantic(get, rounds=5, iterations=1) == 200


def test_bench_allocate_required_1000_devices(benchmark, settings):
    from assignments import services
    from assignments.events import poll_run
    from assignments.models import LicenseRun
    from assignments.services import execute
    from tests.assignments.conftest import add_members

    with running_simulator(event_delay=0.01) as simulator:
        settings.APPLE_VPP_BASE_URL = simulator.base_url
        content = simulator.mint_token(org_name="Bench", location_name="Allocation")
        uid = simulator.uid_of(content)
        token = factories.VPPTokenFactory(token_content=content, location_uid=uid)
        simulator.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="bench")
        admin = factories.AdministratorFactory()
        rounds = iter(range(100))

        def setup():
            n = next(rounds)
            adam_id = str(950000000 + n)
            simulator.add_asset(uid, adam_id, totalCount=800, deviceAssignable=True, productType="App")
            app = factories.AppFactory(
                vpp_token=token, adam_id=adam_id, total_licenses=800, available_licenses=800
            )
            group = factories.GroupFactory(group_type="device")
            add_members(group, devices=factories.DeviceFactory.create_batch(1000))
            return (app, group), {}

        def allocate(app, group):
            assignment = services.assignment_create(
                app=app, group=group, intent="required", license_type="device", actor=admin
            )
            run = LicenseRun.objects.get(assignment=assignment, kind="allocate")
            execute(run)
            simulator.wait_idle()
            poll_run(run)
            run.refresh_from_db()
            return run

        run = benchmark.pedantic(allocate, setup=setup, rounds=3, iterations=1)
        assert run.succeeded == 800 and run.failed == 200
