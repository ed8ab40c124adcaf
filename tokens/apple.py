"""How the console talks to Apple for one token: the client factory and the token-state rules (T4, T5, T8).

Every service and task that calls Apple for a token goes through `client_for`, and every Apple answer or error
that says something about the token's state goes through `state_from_client_config` / `state_from_error`.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.conf import settings
from django.utils import timezone

from console.messages import Message, apple_exception
from tokens.messages import EXTERNAL_MDM
from tokens.models import VPPToken
from vpp.client import VPPClient
from vpp.errors import AppleError, TokenExpired, TokenInvalid, TokenRevoked
from vpp.types import ClientConfig, MdmInfo

# A person waits for an interactive call (a page or an API request): one retry within five seconds, then the
# error is shown. Background work (tasks) has the client's full budget (five retries within a minute).
INTERACTIVE_RETRY = {"max_retries": 1, "max_retry_seconds": 5.0}


def _options(kwargs: dict, interactive: bool) -> dict:
    if interactive:
        return {**INTERACTIVE_RETRY, "timeout": settings.VPP_INTERACTIVE_TIMEOUT, **kwargs}
    return {"timeout": settings.VPP_REQUEST_TIMEOUT, **kwargs}


def client_for(token, *, interactive: bool = False, **kwargs) -> VPPClient:
    """A client for `token` (a VPPToken) against settings.APPLE_VPP_BASE_URL; use it as a context manager so
    its HTTP session is closed."""
    options = _options(kwargs, interactive)
    return VPPClient(token.token_content, base_url=settings.APPLE_VPP_BASE_URL, **options)


def client_for_content(content: str, *, interactive: bool = False, **kwargs) -> VPPClient:
    """A client for a token file that is not saved yet (upload validation)."""
    return VPPClient(content, base_url=settings.APPLE_VPP_BASE_URL, **_options(kwargs, interactive))


def installation_id() -> uuid.UUID:
    """This installation's identity at Apple: VPP_INSTALLATION_ID, else derived from the secret key.

    The value is never secret-equivalent: it is an HMAC of the key, not the key.
    """
    if settings.VPP_INSTALLATION_ID:
        return uuid.UUID(str(settings.VPP_INSTALLATION_ID))
    digest = hmac.new(settings.SECRET_KEY.encode(), b"vpp-console installation", hashlib.sha256).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def mdm_info_id_for(location_uid: str) -> uuid.UUID:
    """The mdmInfo id this installation claims a location with (T15).

    The same installation and location always give the same id, so a claim that reached Apple while the
    upload failed afterwards (a timeout, a crash before the save, a deleted token) is recognised as ours on
    the next upload; another installation or product has another id and is refused (T4, T8).
    """
    return uuid.uuid5(installation_id(), location_uid)


def our_mdm_info(token) -> MdmInfo:
    """The mdmInfo this console writes when it claims a token; the id is per token and ours alone."""
    metadata = settings.PUBLIC_BASE_URL or "vpp-console"
    return MdmInfo(id=str(token.mdm_info_id), name=settings.VPP_MDM_NAME[:100], metadata=metadata[:255])


def external_mdm(name: str, metadata: str) -> Message:
    """The state detail of a token another MDM holds (T8)."""
    return EXTERNAL_MDM(name=f"{name} ({metadata})")


def state_from_client_config(token, config: ClientConfig) -> tuple[str, Message | str]:
    """(state, detail) for a token given Apple's client/config answer.

    Another MDM's mdmInfo means the token is no longer ours (T8). No mdmInfo at all means nobody claims the
    location (Apple lost it, or an implementation does not echo it): the token stays valid and
    `claim_if_unclaimed` writes ours again.
    """
    expires = config.token_expiration or token.expires_at
    if expires and expires <= timezone.now():
        return VPPToken.State.EXPIRED, ""
    other = config.mdm_info
    if other is not None and other.id != str(token.mdm_info_id):
        return (
            VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM,
            external_mdm(other.name, other.metadata),
        )
    return VPPToken.State.VALID, ""


def claim_if_unclaimed(client: VPPClient, token, config: ClientConfig) -> None:
    """Write our mdmInfo when Apple shows none for a token we hold, so other products see it is in use."""
    if config.mdm_info is None:
        client.update_client_config(mdm_info=our_mdm_info(token))


def state_from_error(exc: AppleError) -> tuple[str, Message | str] | None:
    """The token state an Apple error implies, or None if the error says nothing about the token."""
    detail = apple_exception(exc)
    if isinstance(exc, TokenExpired):
        return VPPToken.State.EXPIRED, detail
    if isinstance(exc, TokenRevoked):
        return VPPToken.State.REVOKED, detail
    if isinstance(exc, TokenInvalid):
        return VPPToken.State.INVALID, detail
    return None
