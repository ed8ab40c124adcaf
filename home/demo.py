"""Demo data for `make run`: two users (administrator, help desk), a directory, two VPP tokens minted by the
built-in Apple simulator and uploaded through the same service an administrator uses, and one assignment.

Idempotent: running it again only adds what is missing.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.models import App
from assignments.services import assignment_create
from console import roles
from directory.demo import load_directory_demo
from directory.models import Group as DeviceGroup
from tokens.models import SyncRun, VPPToken
from tokens.services import token_create
from vpp.simulator.tokens import mint_token

DEMO_TOKENS = [
    {
        "org_name": "Contoso Ltd",
        "location_name": "Contoso HQ",
        "account_type": "business",
        "country": "US",
        "name": "Contoso HQ",
        "apple_id": "vpp-hq@contoso.example",
    },
    {
        "org_name": "Contoso Ltd",
        "location_name": "Contoso Schools",
        "account_type": "education",
        "country": "US",
        "name": "Contoso Schools",
        "apple_id": "vpp-schools@contoso.example",
    },
]


def _user(username: str, password: str, role: str, *, superuser: bool = False):
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@contoso.example", "is_superuser": superuser, "is_staff": superuser},
    )
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def _wait_for_first_sync(token_ids: list[int], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        active = SyncRun.objects.filter(vpp_token_id__in=token_ids, status__in=SyncRun.ACTIVE).exists()
        if not active:
            return
        time.sleep(1)


def load_demo(stdout=None) -> dict[str, tuple[str, str]]:
    """Load the demo; returns {role: (username, password)} for the banner."""
    password = os.environ.get("DEMO_PASSWORD", "vpp-demo-2026")
    admin = _user("admin", password, roles.ADMINISTRATORS, superuser=True)
    _user("helpdesk", password, roles.HELP_DESK)

    load_directory_demo()

    new_ids = []
    for spec in DEMO_TOKENS:
        if VPPToken.objects.filter(name=spec["name"]).exists():
            continue
        content = mint_token(
            org_name=spec["org_name"],
            location_name=spec["location_name"],
            account_type=spec["account_type"],
            country=spec["country"],
            key_file=settings.VAR_DIR / "simulator.key",
        )
        token = token_create(
            file=content.encode(),
            name=spec["name"],
            apple_id=spec["apple_id"],
            country_or_region=spec["country"],
            account_type=spec["account_type"],
            automatic_app_updates=True,
            acknowledge_single_mdm=True,
            take_control_from_external_mdm=False,
            actor=admin,
        )
        new_ids.append(token.pk)
        if stdout:
            stdout.write(f"demo: uploaded VPP token {token.name}; the worker syncs it now")
    if new_ids:
        _wait_for_first_sync(new_ids)
        _demo_assignment(admin)
    return {"Administrator": ("admin", password), "Help desk": ("helpdesk", password)}


def _demo_assignment(admin) -> None:
    """GarageBand, Required with device licensing, to the classroom iPads."""
    app = App.objects.filter(adam_id="408709785", vpp_token__name="Contoso Schools").first()
    group = DeviceGroup.objects.filter(name="Classroom iPads").first()
    if app and group and not app.assignments.filter(group=group).exists():
        assignment_create(app=app, group=group, intent="required", license_type="device", actor=admin)
