"""A3 enforced: one user license per user and app at Apple, used on at most five of the user's devices."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assignments import allocation, services, tasks
from assignments.models import License, LicenseDevice, LicenseRun, VPPUser
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle


def _apple_assignments(apple, uid, adam_id):
    return [a for a in apple.location(uid, include_assignments=True)["assignments"] if a["adamId"] == adam_id]


def _covered(app, user):
    lic = License.objects.exclude(state="revoked").get(app=app, user=user)
    return [link.device for link in LicenseDevice.objects.filter(license=lic).order_by("device_id")]


def _failed_devices(app):
    return License.objects.filter(app=app, state="failed", device__isnull=False, user__isnull=True)


def _seven_devices_in_a_device_group(make_app, administrator, *, apply=True):
    """A user with seven devices in a device group; join order is the reverse of creation order."""
    app = make_app(total=10)
    user = factories.DirectoryUserFactory()
    devices = factories.DeviceFactory.create_batch(7, primary_user=user)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=devices, order=list(reversed(range(7))))
    in_order = list(reversed(devices))  # the order they joined the group
    assignment = None
    if apply:
        assignment = services.assignment_create(
            app=app, group=group, intent="required", license_type="user", actor=administrator
        )
    return app, user, group, in_order, assignment


@pytest.mark.django_db
def test_a3_user_with_seven_devices_in_a_device_group_one_association_five_devices(
    apple, location, make_app, administrator
):
    _token, uid = location
    app, user, _group, in_order, assignment = _seven_devices_in_a_device_group(make_app, administrator)
    run = settle(apple, execute(LicenseRun.objects.get(assignment=assignment, kind="allocate")))

    # Apple: exactly one association, for the user's client user id (never the devices).
    vpp_user = VPPUser.objects.get(user=user)
    at_apple = _apple_assignments(apple, uid, app.adam_id)
    assert at_apple == [
        {"adamId": app.adam_id, "pricingParam": "STDQ", "clientUserId": vpp_user.client_user_id}
    ]
    lic = License.objects.get(app=app, user=user)
    assert lic.state == "assigned"
    # The first five devices in join order use the license; the other two fail with the reason.
    assert sorted(d.pk for d in _covered(app, user)) == sorted(d.pk for d in in_order[:5])
    failed = _failed_devices(app)
    assert sorted(failed.values_list("device_id", flat=True)) == sorted(d.pk for d in in_order[5:])
    assert set(failed.values_list("error", flat=True)) == {allocation.DEVICE_LIMIT}
    assert set(failed.values_list("license_type", flat=True)) == {"user"}
    assert set(failed.values_list("assignment_id", flat=True)) == {assignment.pk}
    # The run counts them as failures.
    run.refresh_from_db()
    assert run.status == "completed"
    assert (run.total, run.succeeded, run.failed) == (3, 1, 2)
    assert run.summary["over_limit"] == 2
    app.refresh_from_db()
    assert app.used_licenses == 1

    # Allocate / retry changes nothing: still one association, the same five, the same two failures.
    run2 = settle(apple, execute(services.assignment_allocate(assignment=assignment, actor=administrator)))
    assert len(_apple_assignments(apple, uid, app.adam_id)) == 1
    assert sorted(d.pk for d in _covered(app, user)) == sorted(d.pk for d in in_order[:5])
    assert _failed_devices(app).count() == 2
    run2.refresh_from_db()
    assert run2.failed == 2


@pytest.mark.django_db
def test_a3_user_group_covers_the_first_five_active_devices(apple, location, make_app, administrator):
    _token, uid = location
    app = make_app(total=10)
    user = factories.DirectoryUserFactory()
    retired = factories.DeviceFactory(primary_user=user, is_active=False)
    blocked = factories.DeviceFactory(primary_user=user, app_store_allowed=False)
    devices = factories.DeviceFactory.create_batch(7, primary_user=user)  # created_at, then id order
    other = factories.DirectoryUserFactory()
    others = factories.DeviceFactory.create_batch(2, primary_user=other)
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=[user, other])

    figures = allocation.preflight(app=app, group=group, license_type="user")
    assert figures["licenses_needed"] == 2
    assert figures["devices_over_limit"] == 2
    assert figures["devices_store_blocked"] == 1  # S12: reported, not silently left out
    assert figures["ineligible_count"] == 3

    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="user", actor=administrator
    )
    run = settle(apple, execute(LicenseRun.objects.get(assignment=a)))
    assert len(_apple_assignments(apple, uid, app.adam_id)) == 2  # one per user
    assert [d.pk for d in _covered(app, user)] == [d.pk for d in devices[:5]]
    assert [d.pk for d in _covered(app, other)] == [d.pk for d in others]
    failed = _failed_devices(app).filter(error=allocation.DEVICE_LIMIT)
    assert sorted(failed.values_list("device_id", flat=True)) == [d.pk for d in devices[5:]]
    assert _failed_devices(app).get(device=blocked).error == allocation.APP_STORE_BLOCKED
    assert not License.objects.filter(device=retired).exists()
    run.refresh_from_db()
    assert (run.total, run.succeeded, run.failed) == (5, 2, 3)


@pytest.mark.django_db
def test_a3_retiring_a_covered_device_frees_a_slot_for_the_next_device(
    apple, location, make_app, administrator
):
    from directory import services as directory_services

    _token, uid = location
    app, user, _group, in_order, assignment = _seven_devices_in_a_device_group(make_app, administrator)
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))

    directory_services.device_retire(device=in_order[1], actor=administrator)
    tasks.device_retired(in_order[1].pk, administrator.pk)  # what the directory hook enqueues
    assert len(_covered(app, user)) == 4

    settle(apple, execute(services.assignment_allocate(assignment=assignment, actor=administrator)))
    expected = [in_order[0], *in_order[2:6]]
    assert sorted(d.pk for d in _covered(app, user)) == sorted(d.pk for d in expected)
    failed = _failed_devices(app)
    assert list(failed.values_list("device_id", flat=True)) == [in_order[6].pk]
    assert not License.objects.filter(app=app, device=in_order[5]).exists()  # its failed row is gone
    assert len(_apple_assignments(apple, uid, app.adam_id)) == 1


@pytest.mark.django_db
def test_a3_a_device_no_longer_the_users_is_detached_on_the_next_allocation(
    apple, location, make_app, administrator
):
    app, user, _group, in_order, assignment = _seven_devices_in_a_device_group(make_app, administrator)
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    in_order[0].primary_user = factories.DirectoryUserFactory(managed_apple_id="")
    in_order[0].save()
    execute(services.assignment_allocate(assignment=assignment, actor=administrator))
    assert sorted(d.pk for d in _covered(app, user)) == sorted(d.pk for d in in_order[1:6])
    assert list(_failed_devices(app).values_list("device_id", flat=True)) == [in_order[6].pk]


@pytest.mark.django_db
def test_a3_revoking_the_license_detaches_its_devices(apple, location, make_app, administrator):
    _token, uid = location
    app, user, _group, _in_order, assignment = _seven_devices_in_a_device_group(make_app, administrator)
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    lic = License.objects.get(app=app, user=user)
    services.license_revoke(license=lic, actor=administrator)
    apple.wait_idle()
    from assignments.events import poll_events

    poll_events(token=app.vpp_token, event_ids=[License.objects.get(pk=lic.pk).event_id])
    lic.refresh_from_db()
    assert lic.state == "revoked"
    assert not LicenseDevice.objects.filter(license=lic).exists()
    assert _apple_assignments(apple, uid, app.adam_id) == []


@pytest.mark.django_db
def test_a3_preflight_reports_devices_over_the_limit(apple, location, make_app, administrator):
    app, _user, group, in_order, _a = _seven_devices_in_a_device_group(make_app, administrator, apply=False)
    figures = allocation.preflight(app=app, group=group, license_type="user")
    assert figures["targets"] == 1
    assert figures["licenses_needed"] == 1
    assert figures["devices_over_limit"] == 2
    assert figures["ineligible_count"] == 2
    assert figures["ineligible"] == [f"{d}: {allocation.DEVICE_LIMIT}" for d in in_order[5:]]
    assert not any("five" in w for w in figures["warnings"])  # enforced, no longer only a warning
    # Device licensing has no such limit.
    assert allocation.preflight(app=app, group=group, license_type="device")["ineligible_count"] == 0


@pytest.mark.django_db
def test_a3_api_licenses_shows_the_failed_device_rows_and_covered_devices(
    apple, location, make_app, administrator, admin_api
):
    app, user, _group, in_order, assignment = _seven_devices_in_a_device_group(make_app, administrator)
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    body = admin_api.get("/api/v1/licenses/", {"app": app.pk, "state": "failed"}).json()
    assert body["count"] == 2
    rows = sorted(body["results"], key=lambda r: r["serial_number"])
    assert [r["serial_number"] for r in rows] == sorted(d.serial_number for d in in_order[5:])
    assert {(r["license_type"], r["user"], r["error"]) for r in rows} == {
        ("user", None, str(allocation.DEVICE_LIMIT))
    }
    body = admin_api.get(f"/api/v1/apps/{app.pk}/licenses/", {"state": "assigned"}).json()
    assert body["count"] == 1
    assert body["results"][0]["user"] == user.pk
    assert sorted(body["results"][0]["covered_devices"]) == sorted(d.pk for d in in_order[:5])


@pytest.mark.django_db
def test_a3_device_page_and_app_pane_show_coverage_and_the_reason(
    apple, location, make_app, administrator, admin_web, rf
):
    from django.template.loader import render_to_string

    app, user, _group, in_order, assignment = _seven_devices_in_a_device_group(make_app, administrator)
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    request = rf.get("/")
    request.user = administrator

    def device_partial(device):
        return render_to_string(
            "assignments/partials/device_licenses.html",
            {"device": device, "can_change": True},
            request=request,
        )

    covered = device_partial(in_order[0])
    assert app.name in covered and "used on 5 of 5 devices" in covered and user.display_name in covered
    refused = device_partial(in_order[6])
    assert app.name in refused and "already covers five devices" in refused
    from django.utils import translation

    with translation.override("zh-hans"):  # the stored reason is translated when shown
        assert "该用户的许可证已用于五台设备" in device_partial(in_order[6])
    pane = admin_web.get(f"/assignments/apps/{app.pk}/").content.decode()
    assert in_order[6].serial_number in pane and "already covers five devices" in pane
    assert "used on 5 of 5 devices" in pane


@pytest.mark.django_db
def test_a3_install_on_a_sixth_device_fails_with_the_reason(apple, location, make_app, administrator):
    _token, uid = location
    app = make_app(total=10)
    user = factories.DirectoryUserFactory()
    devices = factories.DeviceFactory.create_batch(6, primary_user=user)
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=[user])
    a = services.assignment_create(
        app=app, group=group, intent="available", license_type="user", actor=administrator
    )
    first = services.license_install(app=app, user=user, actor=administrator)
    assert first.user == user
    assert [d.pk for d in _covered(app, user)] == [d.pk for d in devices[:5]]
    from assignments.events import poll_events

    apple.wait_idle()
    poll_events(token=app.vpp_token, event_ids=[VPPUser.objects.get(user=user).event_id])
    apple.wait_idle()
    poll_events(token=app.vpp_token, event_ids=[License.objects.get(pk=first.pk).event_id])
    assert License.objects.get(pk=first.pk).state == "assigned"
    assert len(_apple_assignments(apple, uid, app.adam_id)) == 1

    lic = services.license_install(app=app, device=devices[5], actor=administrator)
    assert (lic.state, lic.device, lic.error) == ("failed", devices[5], allocation.DEVICE_LIMIT)
    assert lic.assignment == a
    apple.wait_idle()
    assert len(_apple_assignments(apple, uid, app.adam_id)) == 1


def _user_licenses(n):
    app = factories.AppFactory()
    for _ in range(n):
        user = factories.DirectoryUserFactory()
        lic = License.objects.create(app=app, license_type="user", user=user, state="assigned")
        for device in factories.DeviceFactory.create_batch(2, primary_user=user):
            LicenseDevice.objects.create(license=lic, device=device)
        License.objects.create(
            app=app,
            license_type="user",
            device=factories.DeviceFactory(primary_user=user),
            state="failed",
            error=allocation.DEVICE_LIMIT,
        )
    return app


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/licenses/", "/assignments/licenses/", "app-pane", "app-api"])
def test_a3_query_count_flat_with_covered_devices(url, admin_web, admin_api):
    app = _user_licenses(3)

    def resolve(app):
        if url == "app-pane":
            return admin_web, f"/assignments/apps/{app.pk}/"
        if url == "app-api":
            return admin_api, f"/api/v1/apps/{app.pk}/licenses/"
        return (admin_api if url.startswith("/api/") else admin_web), url

    few = _count(*resolve(app))
    more = _user_licenses(27) if url in ("/api/v1/licenses/", "/assignments/licenses/") else app
    if more is app:
        for _ in range(9):
            user = factories.DirectoryUserFactory()
            lic = License.objects.create(app=app, license_type="user", user=user, state="assigned")
            for device in factories.DeviceFactory.create_batch(3, primary_user=user):
                LicenseDevice.objects.create(license=lic, device=device)
    assert _count(*resolve(app)) == few


@pytest.mark.django_db
def test_a3_device_partial_query_count_flat(rf, administrator):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = administrator

    def render(device):
        with CaptureQueriesContext(connection) as ctx:
            render_to_string(
                "assignments/partials/device_licenses.html",
                {"device": device, "can_change": True},
                request=request,
            )
        return len(ctx.captured_queries)

    user = factories.DirectoryUserFactory()
    device = factories.DeviceFactory(primary_user=user)
    for _ in range(3):
        lic = License.objects.create(
            app=factories.AppFactory(), license_type="user", user=user, state="assigned"
        )
        LicenseDevice.objects.create(license=lic, device=device)
    render(device)  # warm caches (first render of the templates)
    few = render(device)
    for _ in range(27):
        lic = License.objects.create(
            app=factories.AppFactory(), license_type="user", user=user, state="assigned"
        )
        LicenseDevice.objects.create(license=lic, device=device)
    assert render(device) == few
