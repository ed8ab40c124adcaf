"""A typed client for NanoMDM (the MDM server the console sends Apple MDM commands through).

Knows nothing of Django: ``commands`` builds Apple MDM command plists, ``client`` sends them through NanoMDM's
API (``PUT /v1/enqueue/{ids}``, ``/v1/push/{ids}``), ``webhook`` verifies and parses the events NanoMDM posts
back, ``simulator`` is a stand-in for NanoMDM and its devices. Contract: NanoMDM's operations guide.
"""

from .client import NanoMDMClient
from .commands import (
    Command,
    install_application,
    installed_application_list,
    invite_to_program,
    managed_application_list,
    remove_application,
)
from .errors import MDMAuthError, MDMError, MDMUnavailable
from .types import EnqueueResult, IdStatus, PushResult
from .webhook import MalformedEvent, WebhookEvent, parse_event, verify_signature

__all__ = [
    "Command",
    "EnqueueResult",
    "IdStatus",
    "MDMAuthError",
    "MDMError",
    "MDMUnavailable",
    "MalformedEvent",
    "NanoMDMClient",
    "PushResult",
    "WebhookEvent",
    "install_application",
    "installed_application_list",
    "invite_to_program",
    "managed_application_list",
    "parse_event",
    "remove_application",
    "verify_signature",
]
