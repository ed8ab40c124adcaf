"""Deployment end to end: a Required assignment (device licensing) to N enrolled devices (default 10,000).

The console (live server: the NanoMDM webhook), the Apple simulator and the NanoMDM stand-in talk over
loopback HTTP. Licenses are reserved and associated at Apple, the installs go out through NanoMDM's enqueue
API in batches, every device checks in, acknowledges, and reports its inventory; the console records each
webhook event and applies it. The console's work runs here in the benchmark's thread (the services a Celery
worker calls), so the figures are the console's throughput, not the broker's. Reported in `extra_info`:
commands per second, webhook events per second, and the number of enqueue requests.

`BENCH_MDM_DEVICES=1000 make bench PYTEST_ARGS="-k deployment"` runs a smaller fleet.
"""

from __future__ import annotations

import os
import time

import pytest

from tests import factories
from tests.assignments.conftest import add_members

pytestmark = pytest.mark.django_db(transaction=True)

DEVICES = int(os.environ.get("BENCH_MDM_DEVICES", "10000"))
HMAC_KEY = "bench-webhook-key"


def _enrol_quietly(nanomdm, devices) -> None:
    """Enrol the fleet at the stand-in with the webhook off, then give the console their UDIDs (the
    enrolment path is measured by the tests; here the deployment is)."""
    from directory.models import Device

    serials = [d.serial_number for d in devices]
    for start in range(0, len(serials), 1000):
        nanomdm.enroll_serials(serials[start : start + 1000])
    nanomdm.wait_idle(timeout=300)
    udids = {d["serial_number"]: d["udid"] for d in nanomdm.devices()}
    rows = list(Device.objects.filter(serial_number__in=serials))
    for row in rows:
        row.udid, row.mdm_enrolled = udids[row.serial_number], True
    Device.objects.bulk_update(rows, ["udid", "mdm_enrolled"], batch_size=1000)


def test_bench_deployment_required_to_enrolled_devices(benchmark, live_server, settings):
    from apps.models import App
    from assignments.events import poll_run
    from assignments.models import LicenseRun
    from assignments.runs import execute
    from assignments.services import assignment_create
    from deployment import services
    from deployment.models import CommandBatch, DeviceAppState, WebhookEvent
    from mdm.simulator.control import MDMSimulatorControl
    from mdm.simulator.testing import running_mdm_simulator
    from vpp.simulator.testing import running_simulator

    with (
        running_simulator(event_delay=0.01) as apple,
        running_mdm_simulator(
            hmac_key=HMAC_KEY, apple_url=apple.base_url.split("/mdm/")[0], workers=8, install_delay=0.0
        ) as mdm,
    ):
        settings.APPLE_VPP_BASE_URL = apple.base_url
        settings.NANOMDM_URL, settings.NANOMDM_API_KEY = mdm.url, "test-api-key"
        settings.NANOMDM_WEBHOOK_HMAC_KEY = HMAC_KEY
        nanomdm = MDMSimulatorControl(mdm.url, timeout=300)
        content = apple.mint_token(org_name="Bench", location_name="Deployment")
        uid = apple.uid_of(content)
        token = factories.VPPTokenFactory(token_content=content, location_uid=uid)
        apple.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="bench")
        adam_id = "956000001"
        catalog = {"name": "Bench App", "bundleId": "com.example.bench", "version": "1.0"}
        apple.add_asset(
            uid, adam_id, totalCount=DEVICES, deviceAssignable=True, productType="App", catalog=catalog
        )
        app = factories.AppFactory(
            vpp_token=token,
            adam_id=adam_id,
            bundle_id="com.example.bench",
            total_licenses=DEVICES,
            available_licenses=DEVICES,
        )
        group = factories.GroupFactory(group_type="device")
        devices = factories.DeviceFactory.build_batch(DEVICES)
        from directory.models import Device

        Device.objects.bulk_create(devices, batch_size=1000)
        devices = list(Device.objects.order_by("pk"))
        add_members(group, devices=devices)
        _enrol_quietly(nanomdm, devices)
        nanomdm.update_settings(webhook_url=f"{live_server.url}/webhooks/nanomdm/")
        admin = factories.AdministratorFactory()
        figures: dict[str, float] = {}

        def deploy() -> int:
            started = time.monotonic()
            assignment = assignment_create(
                app=app, group=group, intent="required", license_type="device", actor=admin
            )
            run = execute(LicenseRun.objects.get(assignment=assignment))
            apple.wait_idle()
            poll_run(run)
            licensed = time.monotonic()
            services.deploy_app(app_id=app.pk)
            sent = time.monotonic()
            figures["licenses_s"] = licensed - started
            figures["commands"] = DEVICES
            figures["commands_per_s"] = DEVICES / max(sent - licensed, 1e-6)
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                services.apply_pending_events()
                services.check_installs(app_id=app.pk)
                if DeviceAppState.objects.filter(app=app, state="installed").count() == DEVICES:
                    break
                time.sleep(0.2)
            done = time.monotonic()
            events = WebhookEvent.objects.count()
            figures["webhook_events"] = events
            figures["webhook_events_per_s"] = events / max(done - sent, 1e-6)
            figures["enqueue_requests"] = sum(
                1 for r in nanomdm.log()["requests"] if r.get("kind") == "enqueue"
            )
            figures["command_batches"] = CommandBatch.objects.count()
            figures["end_to_end_s"] = done - started
            return DeviceAppState.objects.filter(app=app, state="installed").count()

        installed = benchmark.pedantic(deploy, rounds=1, iterations=1)
        benchmark.extra_info.update({k: round(v, 1) for k, v in figures.items()})
        print(figures)
        assert installed == DEVICES
        assert App.objects.get(pk=app.pk).used_licenses == DEVICES
        assert figures["enqueue_requests"] < DEVICES / 10  # batched, not one per device
