"""Every change to a VPP token goes through these functions (console pages, API, tasks alike).

Each function is keyword-only, takes the `actor` (a user, or None for the system) and records the audit log in
the same transaction. Bad input raises Django's `ValidationError` with a message naming the problem, keyed by
the form/API field where that is natural; nothing is saved when it is raised.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from console import audit
from console.messages import Message, apple_exception
from tokens.apple import (
    claim_if_unclaimed,
    client_for,
    client_for_content,
    mdm_info_id_for,
    our_mdm_info,
    state_from_client_config,
    state_from_error,
)
from tokens.messages import NOTIFICATIONS_NOT_SET_UP
from tokens.models import NotificationReceipt, SyncRun, VPPToken
from tokens.sync import request_sync
from vpp.errors import AppleError, ServiceUnavailable, TokenExpired, TokenInvalid, TokenRevoked
from vpp.tokenfile import MAX_TOKEN_FILE_BYTES, TokenFile, TokenFileError, TokenFileTooLarge, parse_token_file
from vpp.types import ClientConfig

logger = logging.getLogger(__name__)

NOTIFICATION_TYPES = ("ASSET_MANAGEMENT", "ASSET_COUNT", "USER_MANAGEMENT", "USER_ASSOCIATED")

# ISO 3166-1 alpha-2: the store a token's app metadata comes from (T10).
# fmt: off
COUNTRY_CODES = (
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA",
    "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV",
    "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU",
    "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES",
    "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM",
    "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE",
    "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM",
    "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT",
    "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU",
    "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA",
    "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
    "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL",
    "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE",
    "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
)
# fmt: on

# The fields an administrator may change without a new token file (T1); the rest come from Apple.
EDITABLE_FIELDS = ("name", "apple_id", "country_or_region", "automatic_app_updates")
_AUDITED_FIELDS = (
    "name",
    "apple_id",
    "country_or_region",
    "account_type",
    "automatic_app_updates",
    "organization_name",
    "location_name",
    "location_uid",
    "state",
    "state_detail",
    "expires_at",
    "token_uploaded_at",
    "token_sha256",
)


# --- reading uploads --------------------------------------------------------------------------------------


def read_token_upload(upload) -> bytes:
    """The bytes of an uploaded token file; a file over the size limit is refused without reading it all."""
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_TOKEN_FILE_BYTES:
        raise ValidationError({"token_file": [str(TokenFileTooLarge(size))]})
    return upload.read(MAX_TOKEN_FILE_BYTES + 1)


def _parse(file: bytes | str) -> TokenFile:
    try:
        parsed = parse_token_file(file)
    except TokenFileError as exc:
        raise ValidationError({"token_file": [str(exc)]}) from None
    if parsed.is_expired():
        # T5: an expired token is never sent to Apple.
        raise ValidationError(
            {
                "token_file": [
                    _(
                        "This token expired on %(date)s. Download a new token from Apple Business or School "
                        "Manager."
                    )
                    % {"date": parsed.expires_at.date().isoformat()}
                ]
            }
        )
    return parsed


def _apple_refusal(exc: AppleError) -> ValidationError:
    """A token-file error for what Apple said about a token that is being uploaded."""
    number = exc.number
    if isinstance(exc, TokenExpired):
        text = _("Apple says this token has expired (Apple error %(number)s). Download a new token.")
    elif isinstance(exc, TokenRevoked):
        text = _(
            "Apple says this token has been revoked (Apple error %(number)s), usually because a newer token "
            "was downloaded for the location. Upload the newest token."
        )
    elif isinstance(exc, TokenInvalid):
        text = _(
            "Apple does not recognise this token (Apple error %(number)s). Upload the .vpptoken file exactly "
            "as downloaded from Apple Business or School Manager."
        )
    elif isinstance(exc, ServiceUnavailable):
        return ValidationError(
            {
                "token_file": [
                    _(
                        "Apple could not be reached to check the token (%(error)s). "
                        "Nothing was saved; try again."
                    )
                    % {"error": exc}
                ]
            }
        )
    else:
        return ValidationError(
            {"token_file": [_("Apple refused the token: %(error)s. Nothing was saved.") % {"error": exc}]}
        )
    return ValidationError({"token_file": [text % {"number": number if number is not None else "?"}]})


def _read_config(content: str) -> ClientConfig:
    # Few retries: an administrator is waiting for the page.
    with client_for_content(content, interactive=True) as client:
        try:
            return client.client_config()
        except AppleError as exc:
            raise _apple_refusal(exc) from None


def _other_mdm(config: ClientConfig, token: VPPToken | None = None) -> str | None:
    """A description of the other MDM that holds the token, or None when nobody or we hold it (T4, T8)."""
    info = config.mdm_info
    if info is None or not info.id:
        return None
    if token is not None and info.id == str(token.mdm_info_id):
        return None
    if config.uid and info.id == str(mdm_info_id_for(config.uid)):
        # Our own claim, left by an upload that failed after claiming or by a token deleted here.
        return None
    other_id = _as_uuid(info.id)
    if token is None and other_id is not None and VPPToken.objects.filter(mdm_info_id=other_id).exists():
        return None
    return f"{info.name or info.id} ({info.metadata})" if info.metadata else (info.name or info.id)


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


def _clean_fields(
    *, name: str | None, apple_id: str | None, country_or_region: str | None, account_type: str | None = None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if name is not None:
        cleaned["name"] = name.strip()
        if not cleaned["name"]:
            errors["name"] = [_("Enter a name for the token.")]
        elif len(cleaned["name"]) > 200:
            errors["name"] = [_("The name can have at most 200 characters.")]
    if apple_id is not None:
        cleaned["apple_id"] = apple_id.strip()
        if not cleaned["apple_id"]:
            errors["apple_id"] = [_("Enter the Apple ID of the account the token belongs to.")]
        elif len(cleaned["apple_id"]) > 254:
            errors["apple_id"] = [_("The Apple ID can have at most 254 characters.")]
    if country_or_region is not None:
        code = country_or_region.strip().upper()
        cleaned["country_or_region"] = code
        if code not in COUNTRY_CODES:
            errors["country_or_region"] = [
                _("“%(value)s” is not an ISO 3166-1 alpha-2 country/region code (for example US or DE).")
                % {"value": country_or_region}
            ]
    if account_type is not None:
        cleaned["account_type"] = account_type
        if account_type not in VPPToken.AccountType.values:
            errors["account_type"] = [
                _("The account type must be one of: %(choices)s.")
                % {"choices": ", ".join(VPPToken.AccountType.values)}
            ]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _claim(token: VPPToken) -> None:
    """Write our mdmInfo at Apple so other products see the token is in use here (T15)."""
    with client_for(token, interactive=True) as client:
        try:
            client.update_client_config(mdm_info=our_mdm_info(token))
        except AppleError as exc:
            raise _apple_refusal(exc) from None


def notification_url(token: VPPToken) -> str | None:
    """Where Apple posts this token's notifications, or None without PUBLIC_BASE_URL."""
    base = settings.PUBLIC_BASE_URL
    if not base:
        return None
    return base.rstrip("/") + reverse("tokens:notify", kwargs={"mdm_info_id": token.mdm_info_id})


def _register_notifications(token_id: int) -> None:
    """Subscribe to Apple's notifications once the token is committed.

    Apple posts a test notification to the URL and rejects the configuration if we do not answer it, so this
    runs after the commit (our notification endpoint must find the token). A failure keeps the token — the
    twice-daily sync remains the safety net (B4) — and says so in the state detail.
    """
    token = VPPToken.objects.filter(pk=token_id).first()
    url = notification_url(token) if token else None
    if token is None or url is None:
        return
    try:
        with client_for(token, interactive=True) as client:
            client.update_client_config(
                mdm_info=our_mdm_info(token),
                notification_url=url,
                notification_auth_token=token.notification_secret,
                notification_types=NOTIFICATION_TYPES,
            )
    except AppleError as exc:
        logger.warning("Apple notifications not configured for token %s: %s", token_id, exc)
        VPPToken.objects.filter(pk=token_id).update(
            state_detail=NOTIFICATIONS_NOT_SET_UP(error=apple_exception(exc))
        )


def _request_first_sync(token: VPPToken, actor) -> None:
    request_sync(token=token, trigger=SyncRun.Trigger.UPLOAD, actor=actor, full=True)


def _audit_snapshot(token: VPPToken) -> dict[str, Any]:
    return audit.snapshot(token, _AUDITED_FIELDS)


# --- create / update / renew / delete ---------------------------------------------------------------------


def token_create(
    *,
    file: bytes | str,
    name: str,
    apple_id: str,
    country_or_region: str,
    account_type: str,
    automatic_app_updates: bool,
    acknowledge_single_mdm: bool,
    take_control_from_external_mdm: bool = False,
    actor,
) -> VPPToken:
    """Upload a token (T1): check it with Apple, claim it, save it and request its first full sync.

    Raises ValidationError (nothing saved) when the T2 warning is not acknowledged, a field is wrong, the file
    is not a token, expired (T5), refused by Apple, already uploaded or for a location already here, the T3
    limit is reached, or another MDM holds the token and the administrator did not take control (T4).
    """
    errors: dict[str, list[str]] = {}
    if not acknowledge_single_mdm:
        errors["acknowledge_single_mdm"] = [
            _(
                "Confirm that this token will be used by this console only and cannot later be changed to a "
                "different VPP account."
            )
        ]
    try:
        cleaned = _clean_fields(
            name=name, apple_id=apple_id, country_or_region=country_or_region, account_type=account_type
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    _check_limit()

    parsed = _parse(file)
    _check_not_uploaded(parsed)
    config = _read_config(parsed.content)
    existing = VPPToken.objects.filter(location_uid=config.uid).first()
    if existing is not None:
        raise ValidationError(
            {
                "token_file": [
                    _(
                        "This token is for the location “%(location)s”, which the token “%(name)s” already "
                        "manages. To replace its file, use Edit / Renew on that token."
                    )
                    % {"location": config.location_name or config.uid, "name": existing.name}
                ]
            }
        )
    other = _other_mdm(config)
    if other and not take_control_from_external_mdm:
        raise ValidationError(
            {
                "take_control_from_external_mdm": [
                    _(
                        "This token is used by another MDM: %(mdm)s. Using it in two products can lose "
                        "license assignments. Tick “take control of this token from another MDM” to move it "
                        "here."
                    )
                    % {"mdm": other}
                ]
            }
        )

    token = VPPToken(
        **cleaned,
        mdm_info_id=mdm_info_id_for(config.uid),
        automatic_app_updates=bool(automatic_app_updates),
        token_content=parsed.content,
        token_sha256=parsed.sha256,
        organization_name=parsed.org_name[:200],
        notification_secret=secrets.token_urlsafe(32),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        token_uploaded_at=timezone.now(),
        expires_at=config.token_expiration or parsed.expires_at,
    )
    _apply_config(token, config)
    # Claim at Apple first, with no transaction open: an Apple call never holds the database's write lock.
    # If the save below fails (or the claim's answer is lost), the claim stays at Apple under this
    # installation's id for the location, which the next upload recognises as ours.
    _claim(token)
    try:
        with transaction.atomic():
            _check_limit()
            token.save()
            after = _audit_snapshot(token)
            if other:
                after["took_control_from"] = other
            audit.record(actor=actor, action="vpp_token.create", obj=token, after=after)
            _request_first_sync(token, actor)
            transaction.on_commit(lambda: _register_notifications(token.pk))
    except IntegrityError:
        # Another upload of the same file or location won the race.
        raise ValidationError(
            {"token_file": [_("This token or its location was uploaded at the same time by someone else.")]}
        ) from None
    return token


def _check_limit() -> None:
    limit = settings.VPP_MAX_TOKENS
    if VPPToken.objects.count() >= limit:
        raise ValidationError(
            _("At most %(limit)d VPP tokens can be uploaded; delete a token before adding another.")
            % {"limit": limit}
        )


def _check_not_uploaded(parsed: TokenFile, *, exclude: VPPToken | None = None) -> None:
    same = VPPToken.objects.filter(token_sha256=parsed.sha256)
    if exclude is not None:
        same = same.exclude(pk=exclude.pk)
    existing = same.first()
    if existing is not None:
        raise ValidationError(
            {
                "token_file": [
                    _("This token file was already uploaded as “%(name)s”.") % {"name": existing.name}
                ]
            }
        )


def _apply_config(token: VPPToken, config: ClientConfig) -> None:
    token.location_uid = config.uid
    token.location_name = config.location_name[:200]
    token.default_platform = config.default_platform[:32]
    token.website_url = config.website_url[:200]
    token.apple_country_or_region = config.country_code.upper()[:2]
    if config.token_expiration:
        token.expires_at = config.token_expiration


def token_update(
    *,
    token: VPPToken,
    actor,
    name: str | None = None,
    apple_id: str | None = None,
    country_or_region: str | None = None,
    automatic_app_updates: bool | None = None,
) -> VPPToken:
    """Change the administrator's fields of a token. A new country takes effect at the next sync (T10)."""
    cleaned = _clean_fields(name=name, apple_id=apple_id, country_or_region=country_or_region)
    if automatic_app_updates is not None:
        cleaned["automatic_app_updates"] = bool(automatic_app_updates)
    with transaction.atomic():
        token = VPPToken.objects.select_for_update().get(pk=token.pk)
        before = audit.snapshot(token, EDITABLE_FIELDS)
        for field, value in cleaned.items():
            setattr(token, field, value)
        after = audit.snapshot(token, EDITABLE_FIELDS)
        before, after = audit.changed(before, after)
        if after:
            token.save(update_fields=[*after.keys(), "updated_at"])
            audit.record(actor=actor, action="vpp_token.update", obj=token, before=before, after=after)
    return token


def token_renew(*, token: VPPToken, file: bytes | str, actor) -> VPPToken:
    """Replace the token file with a new one for the SAME location (T15): apps and assignments are kept.

    Raises ValidationError when the file is not a token, expired, refused by Apple, already uploaded, or for
    another location.
    """
    parsed = _parse(file)
    if parsed.sha256 == token.token_sha256:
        raise ValidationError({"token_file": [_("This is the token file already in use by this token.")]})
    _check_not_uploaded(parsed)
    config = _read_config(parsed.content)
    if config.uid != token.location_uid:
        other = VPPToken.objects.filter(location_uid=config.uid).first()
        raise ValidationError(
            {
                "token_file": [
                    _(
                        "This file is for another location (“%(location)s”), not for “%(current)s”. A token "
                        "cannot be changed to a different location or VPP account; upload it as a new token."
                    )
                    % {
                        "location": (other.location_name if other else "")
                        or config.location_name
                        or config.uid,
                        "current": token.location_name or token.location_uid,
                    }
                ]
            }
        )
    # Claim with the new file before the transaction (no Apple call under the write lock); the claim carries
    # the token's own mdmInfo id, so a renewal that fails after it leaves nothing foreign at Apple.
    claimant = VPPToken(mdm_info_id=token.mdm_info_id, token_content=parsed.content)
    _claim(claimant)
    with transaction.atomic():
        token = VPPToken.objects.select_for_update().get(pk=token.pk)
        before = _audit_snapshot(token)
        token.token_content = parsed.content
        token.token_sha256 = parsed.sha256
        token.organization_name = parsed.org_name[:200]
        token.expires_at = parsed.expires_at
        _apply_config(token, config)
        token.state = VPPToken.State.VALID
        token.state_detail = ""
        token.token_uploaded_at = timezone.now()
        if not token.notification_secret:
            token.notification_secret = secrets.token_urlsafe(32)
        token.save()
        before, after = audit.changed(before, _audit_snapshot(token))
        audit.record(actor=actor, action="vpp_token.renew", obj=token, before=before, after=after)
        _request_first_sync(token, actor)
        transaction.on_commit(lambda: _register_notifications(token.pk))
    return token


def token_take_control(*, token: VPPToken, actor) -> VPPToken:
    """Take a token back from another MDM (T4, T8): write our mdmInfo at Apple, mark it valid, sync it.

    Only for a token in the state "assigned to external MDM". The other product loses the token; licenses it
    assigned stay at Apple and show up here as untracked. Raises ValidationError for another state or when
    Apple refuses.
    """
    if token.state != VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM:
        raise ValidationError(_("Only a token assigned to another MDM can be taken back."))
    _claim(token)  # before the transaction: no Apple call under the write lock
    with transaction.atomic():
        token = VPPToken.objects.select_for_update().get(pk=token.pk)
        before = _audit_snapshot(token)
        token.state = VPPToken.State.VALID
        token.state_detail = ""
        token.save(update_fields=["state", "state_detail", "updated_at"])
        before, after = audit.changed(before, _audit_snapshot(token))
        audit.record(actor=actor, action="vpp_token.take_control", obj=token, before=before, after=after)
        _request_first_sync(token, actor)
        transaction.on_commit(lambda: _register_notifications(token.pk))
    return token


def token_delete(*, token: VPPToken, actor) -> None:
    """Delete a token with its apps and assignments here (T13). Apple is not called; licenses stay."""
    with transaction.atomic():
        audit.record(actor=actor, action="vpp_token.delete", obj=token, before=_audit_snapshot(token))
        token.delete()


def token_sync_all(*, actor) -> list[SyncRun]:
    """Request a sync of every usable token (T6 "Sync now" for all); returns the queued or running runs."""
    runs = []
    now = timezone.now()
    for token in VPPToken.objects.filter(state=VPPToken.State.VALID, expires_at__gt=now):
        run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, actor=actor)
        runs.append(run)
    return runs


# --- state -------------------------------------------------------------------------------------------


def token_check_state(*, token: VPPToken) -> VPPToken:
    """Ask Apple about the token and record its state (T4, T5, T8): valid, expired, revoked, invalid or held
    by another MDM. An expired token is not sent to Apple. A transient Apple fault leaves the state as it was.
    Nothing else changes: a token that is not valid simply makes no license changes (`VPPToken.is_usable`).
    """
    new_state, detail = token.state, token.state_detail
    fields: dict[str, Any] = {}
    if token.expires_at <= timezone.now():
        new_state, detail = VPPToken.State.EXPIRED, ""
    else:
        try:
            with client_for(token) as client:
                config = client.client_config()
                if state_from_client_config(token, config)[0] == VPPToken.State.VALID:
                    claim_if_unclaimed(client, token, config)
        except AppleError as exc:
            implied = state_from_error(exc)
            if implied is None:
                logger.warning("Token %s state check failed: %s", token.pk, exc)
                return token
            new_state, detail = implied
        else:
            new_state, detail = state_from_client_config(token, config)
            if config.token_expiration and config.token_expiration != token.expires_at:
                fields["expires_at"] = config.token_expiration
            if config.location_name and config.location_name != token.location_name:
                fields["location_name"] = config.location_name[:200]
    if new_state != token.state or detail != token.state_detail:
        fields.update(state=new_state, state_detail=detail)
    if not fields:
        return token
    with transaction.atomic():
        before = audit.snapshot(token, fields.keys())
        for field, value in fields.items():
            setattr(token, field, value)
        token.save(update_fields=[*fields.keys(), "updated_at"])
        if "state" in fields:
            audit.record(
                actor=None,
                action="vpp_token.state",
                obj=token,
                before=before,
                after=audit.snapshot(token, fields),
            )
    return token


def token_set_state(
    *, token: VPPToken, state: str, detail: Message | str, config=None, audited: bool = True
) -> None:
    """The token's state (and, with Apple's client `config`, its expiry, location and website) as Apple's
    answers imply it (T4, T5, T8); a change is audited unless `audited` is False."""
    before = audit.snapshot(token, ["state", "state_detail", "expires_at", "location_name"])
    token.state = state
    token.state_detail = detail or ""
    fields = ["state", "state_detail", "updated_at"]
    if config is not None:
        if config.token_expiration:
            token.expires_at = config.token_expiration
        token.location_name = (config.location_name or token.location_name)[:200]
        token.default_platform = (config.default_platform or token.default_platform)[:32]
        token.website_url = config.website_url or token.website_url
        token.apple_country_or_region = (config.country_code or token.apple_country_or_region).upper()[:2]
        fields += [
            "expires_at",
            "location_name",
            "default_platform",
            "website_url",
            "apple_country_or_region",
        ]
    token.save(update_fields=fields)
    after = audit.snapshot(token, ["state", "state_detail", "expires_at", "location_name"])
    if audited and before != after:
        old, new = audit.changed(before, after)
        audit.record(actor=None, action="token.state", obj=token, before=old, after=new)


def token_sync_finished(
    *, token: VPPToken, versions: dict[str, str | None], full: bool, settled: bool = True
) -> None:
    """Record a completed sync on the token: when, and Apple's version ids to continue from (call inside the
    sync's transaction). `versions` holds `assignments_version_id` / `users_version_id` (None: unchanged).
    With `settled=False` the status stays `in progress`: work derived from the saved data still follows, and
    `token_sync_status` says `completed` after it."""
    token.last_sync_at = timezone.now()
    fields = ["last_sync_at", "updated_at"]
    if settled:
        token.last_sync_status = VPPToken.SyncStatus.COMPLETED
        fields.append("last_sync_status")
    for name, value in versions.items():
        if value:
            setattr(token, name, value)
            fields.append(name)
    if full:
        token.last_full_sync_at = token.last_sync_at
        fields.append("last_full_sync_at")
    token.save(update_fields=fields)


def token_sync_status(*, token: VPPToken, status: str, at=None) -> None:
    """The token's last sync status (in progress, failed) as the sync engine reports it."""
    fields: dict[str, Any] = {"last_sync_status": status}
    if at is not None:
        fields["last_sync_at"] = at
    VPPToken.objects.filter(pk=token.pk).update(**fields)


# --- Apple's notifications: the receipts (the inbound path in applesync decides what they mean) ------------


def notification_receipt_store(
    *, token: VPPToken, notification_id: str, notification_type: str, body: dict
) -> tuple[NotificationReceipt, bool]:
    """Store a notification once per token and notificationId; `(receipt, created)` (a duplicate delivery
    returns the stored receipt with False)."""
    return NotificationReceipt.objects.get_or_create(
        vpp_token=token,
        notification_id=notification_id,
        defaults={"notification_type": notification_type[:50], "payload": body},
    )


def notification_receipt_lock(*, receipt_id: int) -> NotificationReceipt:
    """The receipt, row-locked until the end of the caller's transaction (one processing at a time).

    Only the receipt's row (`of=self`): locking the joined token row too would make every notification
    Apple delivers meanwhile wait for this processing to commit (storing a receipt takes a key-share lock on
    its token), and Apple delivers one at a time."""
    return (
        NotificationReceipt.objects.select_for_update(of=("self",))
        .select_related("vpp_token")
        .get(pk=receipt_id)
    )


def notification_receipts_following(*, receipt: NotificationReceipt, limit: int) -> list[NotificationReceipt]:
    """The unprocessed receipts of the same token and type received right after `receipt`, in order and
    row-locked like `notification_receipt_lock`: at most `limit`, ending before the first one another worker
    is processing (taking those after it would apply them out of order)."""
    waiting = NotificationReceipt.objects.filter(
        vpp_token_id=receipt.vpp_token_id,
        notification_type=receipt.notification_type,
        processed_at__isnull=True,
        pk__gt=receipt.pk,
    ).order_by("pk")
    ids = list(waiting.values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    free = {r.pk: r for r in waiting.filter(pk__in=ids).select_for_update(of=("self",), skip_locked=True)}
    following: list[NotificationReceipt] = []
    for pk in ids:
        if pk not in free:
            break
        following.append(free[pk])
    return following


def notification_receipt_done(*, receipt: NotificationReceipt, result: str, action: str, kind: str) -> None:
    """Mark a receipt processed with its `result` (audited as `action`)."""
    receipt.processed_at = timezone.now()
    receipt.result = result[:500]
    receipt.save(update_fields=["processed_at", "result"])
    audit.record(actor=None, action=action, obj=receipt, after={"type": kind, "result": receipt.result})
