"""Property tests for Apple's notifications (B4, §4 bad input): whatever Apple — or someone holding a token's
secret — posts, the console answers 200 or 400 and never fails; parsing either gives a notification or refuses
it as malformed; processing never raises; a refused or rejected notification changes nothing.

Bodies are drawn near Apple's format (the real types, ids of apps, devices and users the console knows, counts
around the real ones) with any JSON value swapped in for any field, so both the accepted and the refused paths
are exercised.
"""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from applesync.notifications import notification_process
from apps.models import App, AppleAssignment
from assignments import allocation
from assignments.models import License, VPPUser
from tests import factories
from tests.tokens.test_notifications import SECRET, post
from tests.tokens.test_sync import connect, sync
from tokens.models import NotificationReceipt
from vpp.types import MalformedNotification, Notification, parse_notification

TYPES = ["ASSET_COUNT", "ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "TEST_NOTIFICATION"]

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_any = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _or_any(good):
    """Mostly (nine in ten) the well-formed value, sometimes any JSON at all."""
    return st.sampled_from(range(10)).flatmap(lambda roll: json_any if roll == 9 else good)


@st.composite
def notification_bodies(draw, *, uid: str = "1", adam_ids=("1",), serials=("S1",), cids=("c1",)):
    adam = _or_any(st.sampled_from([*adam_ids, "0", "999999999999"]))
    serial = _or_any(st.sampled_from([*serials, "UNKNOWN-SERIAL"]))
    cid = _or_any(st.sampled_from([*cids, uuid.uuid4().hex]))
    assignment = st.fixed_dictionaries(
        {"adamId": adam},
        optional={"serialNumber": serial, "clientUserId": cid, "pricingParam": _or_any(st.just("STDQ"))},
    )
    user = st.fixed_dictionaries(
        {"clientUserId": cid},
        optional={
            "status": _or_any(st.sampled_from(["Registered", "Associated", "Retired"])),
            "email": _or_any(st.emails()),
            "idHash": _or_any(st.text(max_size=20)),
        },
    )
    error = st.fixed_dictionaries(
        {},
        optional={
            "errorNumber": _or_any(st.sampled_from([9610, 9616, 9632, "9610"])),
            "errorMessage": _or_any(st.text(max_size=40)),
            "errorInfo": _or_any(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "serialNumbers": st.lists(serial, max_size=3),
                        "clientUserIds": st.lists(cid, max_size=3),
                    },
                )
            ),
        },
    )
    inner = st.fixed_dictionaries(
        {},
        optional={
            "adamId": adam,
            "pricingParam": _or_any(st.just("STDQ")),
            "countDelta": _or_any(st.integers(min_value=-60, max_value=60)),
            "type": _or_any(st.sampled_from(["ASSOCIATE", "DISASSOCIATE", "REVOKE"])),
            "result": _or_any(st.sampled_from(["SUCCESS", "FAILURE"])),
            "eventId": _or_any(st.uuids().map(str)),
            "assignments": _or_any(st.lists(assignment, max_size=4)),
            "users": _or_any(st.lists(user, max_size=3)),
            "error": _or_any(error),
        },
    )
    body = draw(
        st.fixed_dictionaries(
            {
                "notificationId": _or_any(st.uuids().map(str)),
                "notificationType": _or_any(st.sampled_from(TYPES)),
                "uId": _or_any(st.just(uid)),
                "notification": _or_any(inner),
            }
        )
    )
    # Sometimes a key is missing altogether, sometimes the body is not an object at all.
    for key in list(body):
        if draw(st.sampled_from(range(20))) == 19:
            del body[key]
    return draw(_or_any(st.just(body)))


@settings(max_examples=150, deadline=None)
@given(body=notification_bodies())
def test_b4_a_notification_body_either_parses_or_is_refused_as_malformed(body):
    try:
        notification = parse_notification(body)
    except MalformedNotification:
        return  # the documented refusal of content
    except ValueError as exc:
        assert not isinstance(body, dict) or "notification" in str(exc)  # an unusable envelope
        return
    assert isinstance(notification, Notification)
    assert notification.notification_id == str(body["notificationId"])
    assert notification.notification_type == body["notificationType"]
    assert all(len(a.adam_id) <= 20 for a in notification.assignments)


@pytest.fixture
def console_world(apple, db):
    """A synced token (apps with Apple's counts), two device licenses and one registered user."""
    token = connect(apple, notification_secret=SECRET)
    assert sync(token, full=True).status == "completed"
    app = App.objects.filter(vpp_token=token, supports_device_licensing=True).first()
    devices = factories.DeviceFactory.create_batch(2)
    allocation.allocate(
        app=app, targets=[allocation.Target(device=d) for d in devices], license_type="device"
    )
    apple.wait_idle()
    user = factories.DirectoryUserFactory()
    VPPUser.objects.create(
        vpp_token=token, user=user, client_user_id=uuid.uuid4().hex, status=VPPUser.Status.REGISTERED
    )
    return token


def _state(token) -> tuple:
    """Everything a notification may change, compared before and after a refused one."""
    return (
        sorted(
            App.objects.filter(vpp_token=token).values_list(
                "adam_id", "total_licenses", "used_licenses", "available_licenses"
            )
        ),
        sorted(
            AppleAssignment.objects.filter(vpp_token=token).values_list(
                "adam_id", "serial_number", "client_user_id"
            )
        ),
        sorted(License.objects.values_list("pk", "state", "error_number")),
        sorted(
            VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", "status", "error_number")
        ),
    )


def test_b4_any_notification_is_answered_processed_or_refused_and_a_refusal_changes_nothing(
    client, console_world
):
    token = console_world
    adam_ids = list(App.objects.filter(vpp_token=token).values_list("adam_id", flat=True))
    serials = list(License.objects.values_list("device__serial_number", flat=True))
    cids = list(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", flat=True))
    bodies = notification_bodies(uid=token.location_uid, adam_ids=adam_ids, serials=serials, cids=cids)

    sent = itertools.count()

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=bodies)
    def check(body):
        number = next(sent)
        if isinstance(body, dict) and isinstance(body.get("notificationId"), str) and number % 4:
            # Hypothesis repeats its favourite ids; three in four are made unique (the fourth may duplicate).
            body = {**body, "notificationId": f"{body['notificationId'][:60]}-{number}"}
        before = _state(token)
        receipts = NotificationReceipt.objects.count()
        response = post(client, token, json.dumps(body))
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert _state(token) == before
            assert NotificationReceipt.objects.count() == receipts
            return
        answer = response.json()
        receipt = notification_process(receipt_id=answer["id"])
        assert receipt.processed_at is not None
        event(f"{answer['status']}: {receipt.result.split(':')[0][:30]}")
        if answer["status"] in ("rejected", "duplicate") or receipt.result.startswith("rejected"):
            assert _state(token) == before
        for total, used, available in App.objects.filter(vpp_token=token).values_list(
            "total_licenses", "used_licenses", "available_licenses"
        ):
            assert min(total, used, available) >= 0

    check()


@pytest.mark.parametrize("value", [True, False, [], {}, 1.5])
def test_b4_a_notification_id_that_is_not_a_string_or_number_is_refused(value):
    with pytest.raises(ValueError, match="notificationId"):
        parse_notification({"notificationId": value, "notificationType": "ASSET_COUNT"})
    with pytest.raises(ValueError, match="notificationType"):
        parse_notification({"notificationId": "n-1", "notificationType": value})
