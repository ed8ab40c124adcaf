"""The end-user prompt table (S7), from Apple's "End-User Prompts for VPP".

For each scenario — BYOD or corporate, supervised or not, kiosk; user or device licensing — whether the user
is invited to the volume purchase program, prompted to install the app, and prompted for an Apple ID. Scenario
8 (kiosk with user licensing) has no answer in the source: it is not recommended, and the console warns (S8).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Prompts:
    number: int
    scenario: str
    invite: bool | None
    install_prompt: bool | None
    apple_id_prompt: bool | None

    @property
    def not_recommended(self) -> bool:
        return self.invite is None


TABLE: dict[int, Prompts] = {
    1: Prompts(1, _("BYOD - user licensed"), True, True, True),
    2: Prompts(2, _("Corporate - user licensed (not supervised device)"), True, True, True),
    3: Prompts(3, _("Corporate - user licensed (supervised device)"), True, False, True),
    4: Prompts(4, _("BYOD - device licensed"), False, True, False),
    5: Prompts(5, _("Corporate - device licensed (not supervised device)"), False, True, False),
    6: Prompts(6, _("Corporate - device licensed (supervised device)"), False, False, False),
    7: Prompts(7, _("Kiosk mode (supervised device) - device licensed"), False, False, False),
    8: Prompts(8, _("Kiosk mode (supervised device) - user licensed (not recommended)"), None, None, None),
}


def scenario_number(*, ownership: str, supervised: bool, kiosk: bool, license_type: str) -> int:
    user = license_type == "user"
    if kiosk:
        return 8 if user else 7
    if ownership == "personal":
        return 1 if user else 4
    if supervised:
        return 3 if user else 6
    return 2 if user else 5


def prompts_for(device, license_type: str) -> Prompts:
    """The prompts the user of `device` should expect for an app with `license_type`."""
    return TABLE[
        scenario_number(
            ownership=device.ownership,
            supervised=device.supervised,
            kiosk=device.kiosk_mode,
            license_type=license_type,
        )
    ]
