"""Apple payloads become typed values; unknown fields and enum values never break parsing."""

import pickle
from datetime import UTC, date, datetime

import pytest

from vpp.errors import (
    AppleError,
    BadRequest,
    NotEnoughLicenses,
    RateLimited,
    ServiceUnavailable,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TransportError,
    UserNotFound,
    error_for,
)
from vpp.types import (
    AppleUser,
    AppMetadata,
    Asset,
    Assignment,
    ClientConfig,
    EventStatus,
    Limits,
    ServiceConfig,
    parse_apple_datetime,
    parse_notification,
)


@pytest.mark.parametrize(
    "value", ["2030-11-08T22:33:22+0000", "2030-11-08T22:33:22Z", "2030-11-08T22:33:22+00:00"]
)
def test_dates_accept_all_utc_spellings(value):
    assert parse_apple_datetime(value) == datetime(2030, 11, 8, 22, 33, 22, tzinfo=UTC)


def test_naive_dates_are_refused():
    with pytest.raises(ValueError):
        parse_apple_datetime("2030-11-08T22:33:22")


def test_client_config_never_keeps_the_notification_secret():
    data = {
        "countryISO2ACode": "DE",
        "defaultPlatform": "enterprisestore",
        "locationName": "Yolo Fomo 2022",
        "mdmInfo": {"id": "29dd", "metadata": "zentral.example.com", "name": "Zentral"},
        "notificationAuthToken": "qhLNx6-secret",
        "notificationUrl": "https://zentral.example.com/notify/",
        "subscribedNotificationTypes": ["ASSET_COUNT", "ASSET_MANAGEMENT", "SOMETHING_NEW"],
        "tokenExpirationDate": "2023-09-26T08:30:39+0000",
        "uId": "981060278089131045",
        "websiteURL": "https://business.apple.com",
        "brandNewField": 1,
    }
    config = ClientConfig.from_api(data)
    assert config.uid == "981060278089131045"
    assert config.country_code == "DE"
    assert config.mdm_info is not None and config.mdm_info.name == "Zentral"
    assert config.token_expiration == datetime(2023, 9, 26, 8, 30, 39, tzinfo=UTC)
    assert config.notification_types == ("ASSET_COUNT", "ASSET_MANAGEMENT", "SOMETHING_NEW")
    assert "qhLNx6-secret" not in repr(config)
    assert not hasattr(config, "notification_auth_token")


def test_service_config_limits_and_urls():
    config = ServiceConfig.from_api(
        {
            "limits": {"maxAssets": 3, "maxRequestPerSecond": 7, "maxNewThing": 9},
            "urls": {"getAssets": "https://x/assets"},
            "notificationTypes": ["ASSET_COUNT"],
            "errorCodes": [{"errorNumber": 9601, "errorMessage": "Login required."}],
        }
    )
    assert config.limits.max_assets == 3
    assert config.limits.max_request_per_second == 7
    assert config.limits.max_users == Limits().max_users
    assert config.urls["getAssets"] == "https://x/assets"
    assert config.error_codes[9601] == "Login required."


def test_assets_keep_unknown_platforms_and_detect_unlimited():
    asset = Asset.from_api(
        {
            "adamId": "408709785",
            "pricingParam": "STDQ",
            "productType": "App",
            "assignedCount": 5,
            "availableCount": 10,
            "retiredCount": 0,
            "totalCount": 2147483647,
            "deviceAssignable": True,
            "revocable": True,
            "supportedPlatforms": ["iOS", "fooOS"],
        }
    )
    assert asset.unlimited
    assert asset.supported_platforms == ("iOS", "fooOS")
    assert asset.ref.adam_id == "408709785"


def test_assignment_and_user():
    a = Assignment.from_api({"adamId": 1, "pricingParam": "STDQ", "serialNumber": "C02"})
    assert (a.adam_id, a.serial_number, a.client_user_id) == ("1", "C02", None)
    u = AppleUser.from_api({"clientUserId": "c1", "email": "a@b.c", "status": "Frozen", "inviteCode": "x"})
    assert u.status == "Frozen"


def test_event_status_failures_map_to_typed_errors():
    status = EventStatus.from_api(
        {
            "eventStatus": "FAILED",
            "eventType": "ASSOCIATE",
            "numCompleted": 14,
            "numRequested": 16,
            "failures": [
                {"errorNumber": 9609, "errorMessage": "not found", "errorInfo": {"clientUserIds": ["c4"]}},
                {
                    "errorNumber": 9709,
                    "errorMessage": "no licences",
                    "errorInfo": {
                        "assets": [{"adamId": "1", "pricingParam": "STDQ"}],
                        "serialNumbers": ["S"],
                    },
                },
            ],
        }
    )
    assert status.is_failed and not status.is_pending
    assert isinstance(status.failures[0].exception(), UserNotFound)
    assert status.failures[0].client_user_ids == ("c4",)
    err = status.failures[1].exception()
    assert isinstance(err, NotEnoughLicenses)
    assert err.number == 9709
    assert status.failures[1].serial_numbers == ("S",)


def test_metadata_legacy_artwork_list():
    meta = AppMetadata.from_api(
        "361304891",
        {
            "name": "Numbers",
            "bundleId": "com.apple.Numbers",
            "artwork": [
                {"width": 60, "height": 60, "url": "https://img/60.png"},
                {"width": 512, "height": 512, "url": "https://img/512.png"},
            ],
            "offers": [{"version": {"display": "14.1"}}],
            "deviceFamilies": ["iphone", "ipad", "mac"],
            "isVppDeviceBasedLicensingEnabled": True,
            "releaseDate": "2010-04-03",
            "kind": "iosSoftware",
            "url": "https://apps.apple.com/us/app/id361304891",
        },
    )
    assert meta.icon_url == "https://img/512.png"
    assert meta.version == "14.1"
    assert meta.platforms == ("iOS", "macOS")
    assert meta.device_licensing and not meta.is_custom_b2b
    assert meta.release_date == date(2010, 4, 3)


def test_metadata_templated_artwork():
    meta = AppMetadata.from_api(
        "1",
        {"name": "X", "artwork": {"url": "https://img/{w}x{h}bb.{f}", "width": 1024, "height": 1024}},
    )
    assert meta.icon_url == "https://img/512x512bb.png"
    assert meta.version is None and meta.bundle_id is None


def test_notifications_tolerate_unknown_types():
    note = parse_notification(
        {"notificationId": "n-1", "notificationType": "SOMETHING_NEW", "uId": "1", "notification": {"a": 1}}
    )
    assert note.notification_type == "SOMETHING_NEW"
    assert note.payload == {"a": 1}
    failure = parse_notification(
        {
            "notificationId": "n-2",
            "notificationType": "ASSET_MANAGEMENT",
            "uId": "1",
            "notification": {
                "type": "ASSOCIATE",
                "result": "FAILURE",
                "eventId": "e1",
                "assignments": [{"adamId": "1", "pricingParam": "STDQ", "serialNumber": "S1"}],
                "error": {"errorNumber": 9709, "errorMessage": "no"},
            },
        }
    )
    assert failure.succeeded is False
    assert failure.event_id == "e1"
    assert isinstance(failure.error, NotEnoughLicenses)
    assert failure.assignments[0].serial_number == "S1"
    with pytest.raises(ValueError):
        parse_notification({"notificationType": "X"})
    with pytest.raises(ValueError):
        parse_notification(["not", "a", "dict"])


@pytest.mark.parametrize(
    ("number", "status", "cls"),
    [
        (9621, 401, TokenExpired),
        (9625, 401, TokenRevoked),
        (9622, 200, TokenInvalid),
        (9722, 401, TokenInvalid),
        (9601, 401, TokenInvalid),
        (9646, 429, RateLimited),
        (None, 429, RateLimited),
        (None, 503, ServiceUnavailable),
        (9729, 503, ServiceUnavailable),
        (9603, 500, ServiceUnavailable),
        (9644, 400, ServiceUnavailable),
        (9709, 400, NotEnoughLicenses),
        (9609, 400, UserNotFound),
        (9650, 400, BadRequest),
        (None, 400, BadRequest),
    ],
)
def test_error_mapping(number, status, cls):
    err = error_for(number, "msg", http_status=status)
    assert type(err) is cls
    assert isinstance(err, AppleError)


def test_error_str_names_the_number_and_errors_pickle():
    err = error_for(9646, "Too many requests", http_status=429, retry_after=3)
    assert str(err) == "Apple error 9646: Too many requests"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is RateLimited and again.retry_after == 3 and again.number == 9646
    assert issubclass(TransportError, ServiceUnavailable)
