"""Demo directory for `make run`: people, devices and groups a school or company would have.

`load_directory_demo()` is idempotent: it creates what is missing (through the services, so the audit log
shows it) and leaves existing rows alone.
"""

from __future__ import annotations

from django.db import transaction

from directory import services
from directory.models import Device, DirectoryUser, Group

FIRST_NAMES = [
    "Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
    "Mei", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
]  # fmt: skip
LAST_NAMES = ["Martin", "Li", "Okafor", "Schmidt"]
DOMAIN = "example.edu"


def _people() -> list[dict]:
    people = []
    for i in range(40):
        # Unique names: the same first name comes back 20 people later, with another last name.
        first, last = FIRST_NAMES[i % 20], LAST_NAMES[i // 20 + (i % 2) * 2]
        upn = f"{first}.{last}@{DOMAIN}".lower()
        people.append(
            {
                "user_principal_name": upn,
                "display_name": f"{first} {last}",
                "email": upn,
                # Every seventh person has no Apple ID yet: they cannot receive user-licensed apps (A3).
                "managed_apple_id": "" if i % 7 == 6 else upn.replace(f"@{DOMAIN}", f"@appleid.{DOMAIN}"),
            }
        )
    return people


def _devices(users: list[DirectoryUser]) -> list[dict]:
    devices = []
    # 30 corporate, supervised classroom iPads (DEP-enrolled, shared: no primary user).
    for i in range(30):
        devices.append(
            {
                "serial_number": f"DMPCL{i:07d}",
                "name": f"Classroom iPad {i + 1:02d}",
                "model": "iPad (10th generation)",
                "platform": Device.Platform.IPADOS,
                "os_version": "18.1",
                "ownership": Device.Ownership.CORPORATE,
                "supervised": True,
                "dep_enrolled": True,
            }
        )
    # 2 kiosk iPads at the front desk.
    for i in range(2):
        devices.append(
            {
                "serial_number": f"DMPFD{i:07d}",
                "name": f"Front desk iPad {i + 1}",
                "model": "iPad Air (5th generation)",
                "platform": Device.Platform.IPADOS,
                "os_version": "17.6",
                "supervised": True,
                "kiosk_mode": True,
                "dep_enrolled": True,
            }
        )
    # 14 staff iPads: DEP-enrolled with a primary user (S13), one with the App Store blocked (S12).
    for i in range(14):
        devices.append(
            {
                "serial_number": f"DMPST{i:07d}",
                "name": f"{users[i].display_name}'s iPad",
                "model": "iPad Pro 11-inch (4th generation)",
                "platform": Device.Platform.IPADOS,
                "os_version": "18.2",
                "supervised": True,
                "dep_enrolled": True,
                "primary_user": users[i],
                "app_store_allowed": i != 3,
            }
        )
    # 14 BYOD iPhones: personal, unsupervised, enrolled by the user.
    for i in range(14):
        devices.append(
            {
                "serial_number": f"DMPBY{i:07d}",
                "name": f"{users[20 + i].display_name}'s iPhone",
                "model": "iPhone 15",
                "platform": Device.Platform.IOS,
                "os_version": "18.0",
                "ownership": Device.Ownership.PERSONAL,
                "primary_user": users[20 + i],
            }
        )
    return devices


@transaction.atomic
def load_directory_demo() -> dict[str, int]:
    """Create the demo users, devices, groups and memberships that are missing. Returns what it created."""
    created = {"users": 0, "devices": 0, "groups": 0}
    existing_users = set(DirectoryUser.objects.values_list("user_principal_name", flat=True))
    for person in _people():
        if person["user_principal_name"] not in existing_users:
            services.user_create(**person, actor=None)
            created["users"] += 1
    users = list(
        DirectoryUser.objects.filter(
            user_principal_name__in=[p["user_principal_name"] for p in _people()]
        ).order_by("id")
    )
    by_upn = {u.user_principal_name: u for u in users}
    ordered_users = [by_upn[p["user_principal_name"]] for p in _people()]

    existing_devices = set(Device.objects.values_list("serial_number", flat=True))
    for device in _devices(ordered_users):
        if device["serial_number"] not in existing_devices:
            services.device_create(**device, actor=None)
            created["devices"] += 1
    devices = {d.serial_number: d for d in Device.objects.filter(serial_number__startswith="DMP")}

    groups = {
        "All teachers": (Group.GroupType.USER, "Every teaching member of staff.", ordered_users[:24]),
        "Sales": (Group.GroupType.USER, "The sales team.", ordered_users[24:32]),
        "Executives": (Group.GroupType.USER, "The leadership team.", ordered_users[32:37]),
        "Front desk iPads": (
            Group.GroupType.DEVICE,
            "Kiosk iPads in reception.",
            [devices[f"DMPFD{i:07d}"] for i in range(2)],
        ),
        "Classroom iPads": (
            Group.GroupType.DEVICE,
            "Shared, supervised iPads in the classrooms.",
            [devices[f"DMPCL{i:07d}"] for i in range(30)],
        ),
    }
    for name, (group_type, description, members) in groups.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            group = services.group_create(
                name=name, group_type=group_type, description=description, actor=None
            )
            created["groups"] += 1
        active = [m for m in members if m.is_active]
        if group_type == Group.GroupType.USER:
            services.group_add_members(group=group, users=active, actor=None)
        else:
            services.group_add_members(group=group, devices=active, actor=None)
    return created
