"""Apple MDM commands the console sends through NanoMDM, as raw command plists.

A command plist is a dict with ``CommandUUID`` (unique per command, made here unless given) and ``Command`` (a
dict with ``RequestType`` and the command's keys). Keys are case-sensitive and integers are plist integers
(Apple's Device Management reference for each command).
"""

from __future__ import annotations

import plistlib
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MANAGEMENT_FLAG_PREVENT_BACKUP",
    "MANAGEMENT_FLAG_REMOVE_WITH_PROFILE",
    "PURCHASE_METHOD_VPP",
    "VPP_PROGRAM_ID",
    "Command",
    "install_application",
    "installed_application_list",
    "invite_to_program",
    "managed_application_list",
    "remove_application",
]

MANAGEMENT_FLAG_REMOVE_WITH_PROFILE = 1  # remove the app when the MDM profile is removed
MANAGEMENT_FLAG_PREVENT_BACKUP = 4  # prevent backup of the app's data
PURCHASE_METHOD_VPP = 1  # install with a volume-purchase license held by the device or its user
VPP_PROGRAM_ID = "com.apple.cloudvpp"


@dataclass(frozen=True)
class Command:
    """One MDM command: ``payload`` holds the command's keys other than ``RequestType``."""

    request_type: str
    command_uuid: str
    payload: dict[str, Any] = field(default_factory=dict)

    def to_plist(self) -> bytes:
        """The raw XML command plist NanoMDM's ``/v1/enqueue`` takes as its body."""
        command = {"RequestType": self.request_type, **self.payload}
        return plistlib.dumps({"Command": command, "CommandUUID": self.command_uuid}, fmt=plistlib.FMT_XML)


def _uuid(command_uuid: str | None) -> str:
    if command_uuid is None:
        return str(uuid.uuid4()).upper()
    if not isinstance(command_uuid, str) or not command_uuid.strip():
        raise ValueError("command_uuid must be a non-empty string")
    return command_uuid


def _int(name: str, value: object, *, minimum: int) -> int:
    # bool is an int in Python but a <true/> in a plist: refuse it rather than send the wrong type.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _identifier(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("identifier must be a non-empty bundle identifier")
    return value


def _identifiers(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [_identifier(v) for v in values]


def install_application(
    *,
    itunes_store_id: int,
    management_flags: int = 0,
    removable: bool | None = None,
    prevent_automatic_updates: bool = False,
    command_uuid: str | None = None,
) -> Command:
    """``InstallApplication`` of a store app with a volume-purchase license (``Options.PurchaseMethod`` 1).

    ``itunes_store_id`` is the app's adam id (a plist integer); ``management_flags`` the bit field
    (``MANAGEMENT_FLAG_*``); ``removable`` becomes ``Attributes.Removable`` only when given. Sent again to a
    device that has the app, it installs the update.

    ``prevent_automatic_updates`` is accepted so callers can pass an assignment's settings through, but it
    adds no key: Apple's command has none. The console honours it by not sending update installs (rule T11).

    Raises ValueError for a non-integer or non-positive store id or negative flags.
    """
    del prevent_automatic_updates  # see the docstring: decided by the caller, not sent to the device
    payload: dict[str, Any] = {
        "iTunesStoreID": _int("itunes_store_id", itunes_store_id, minimum=1),
        "ManagementFlags": _int("management_flags", management_flags, minimum=0),
        "Options": {"PurchaseMethod": PURCHASE_METHOD_VPP},
    }
    if removable is not None:
        payload["Attributes"] = {"Removable": bool(removable)}
    return Command("InstallApplication", _uuid(command_uuid), payload)


def remove_application(*, identifier: str, command_uuid: str | None = None) -> Command:
    """``RemoveApplication`` of a managed app by bundle identifier."""
    return Command("RemoveApplication", _uuid(command_uuid), {"Identifier": _identifier(identifier)})


def managed_application_list(
    *, identifiers: list[str] | None = None, command_uuid: str | None = None
) -> Command:
    """``ManagedApplicationList`` for the given bundle identifiers, or for every managed app."""
    ids = _identifiers(identifiers)
    payload: dict[str, Any] = {} if ids is None else {"Identifiers": ids}
    return Command("ManagedApplicationList", _uuid(command_uuid), payload)


def installed_application_list(
    *,
    identifiers: list[str] | None = None,
    managed_apps_only: bool = False,
    command_uuid: str | None = None,
) -> Command:
    """``InstalledApplicationList``, optionally limited to bundle identifiers and to managed apps."""
    ids = _identifiers(identifiers)
    payload: dict[str, Any] = {} if ids is None else {"Identifiers": ids}
    if managed_apps_only:
        payload["ManagedAppsOnly"] = True
    return Command("InstalledApplicationList", _uuid(command_uuid), payload)


def invite_to_program(*, invitation_url: str, command_uuid: str | None = None) -> Command:
    """``InviteToProgram`` for the volume purchase program (``ProgramID`` com.apple.cloudvpp, rule S4)."""
    if not isinstance(invitation_url, str) or not invitation_url.startswith(("https://", "http://")):
        raise ValueError("invitation_url must be an http(s) URL")
    return Command(
        "InviteToProgram",
        _uuid(command_uuid),
        {"ProgramID": VPP_PROGRAM_ID, "InvitationURL": invitation_url},
    )
