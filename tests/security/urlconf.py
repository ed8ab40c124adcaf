"""Every URL of the console resolved from the URLconf, with its path parameters filled in.

The hostile-input sweep and the access matrix walk these, so a page or endpoint added later is covered
without editing the tests. Objects are created with one fixed id (`OBJECT_ID`), so a URL with any id in it
points at an existing object, and `MISSING_ID` at one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import UUIDConverter

OBJECT_ID = 4242
MISSING_ID = 4243
SKIPPED_PREFIXES = ("django-admin/", "i18n/", "static/")


@dataclass(frozen=True)
class Route:
    route: str
    name: str
    kwargs: tuple[str, ...]
    view: object
    uuid_kwargs: tuple[str, ...] = ()

    @property
    def view_class(self):
        return getattr(self.view, "cls", None) or getattr(self.view, "view_class", None)

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def url(self, object_id: int = OBJECT_ID) -> str:
        kwargs = {}
        for name in self.kwargs:
            if name in self.uuid_kwargs:  # the notification URL: a value that belongs to no token
                kwargs[name] = "00000000-0000-0000-0000-000000000000"
            else:
                kwargs[name] = object_id
        return reverse(self.name, kwargs=kwargs)


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            yield from _walk(
                entry.url_patterns, prefix + str(entry.pattern), f"{namespace}{ns}:" if ns else namespace
            )
        elif isinstance(entry, URLPattern) and entry.name:
            yield prefix + str(entry.pattern), namespace + entry.name, entry


def routes() -> list[Route]:
    """Each named URL once (format-suffix variants of API routes left out)."""
    seen: set[tuple[str, str]] = set()
    found = []
    for route, name, pattern in _walk(get_resolver().url_patterns):
        kwargs = tuple(pattern.pattern.regex.groupindex)
        if route.startswith(SKIPPED_PREFIXES) or "format" in kwargs:
            continue
        if (route, name) in seen:
            continue
        seen.add((route, name))
        converters = getattr(pattern.pattern, "converters", {})
        uuids = tuple(k for k, c in converters.items() if isinstance(c, UUIDConverter))
        found.append(Route(route=route, name=name, kwargs=kwargs, view=pattern.callback, uuid_kwargs=uuids))
    return found


def seed_objects() -> dict[str, object]:
    """One object of each kind, every one with the id `OBJECT_ID`."""
    from assignments.models import Assignment, License, LicenseRun
    from console.models import AuditEntry
    from directory.models import GroupMembership
    from tests import factories
    from tokens.models import SyncRun

    token = factories.VPPTokenFactory(id=OBJECT_ID)
    app = factories.AppFactory(id=OBJECT_ID, vpp_token=token)
    user = factories.DirectoryUserFactory(id=OBJECT_ID)
    device = factories.DeviceFactory(id=OBJECT_ID, primary_user=user)
    group = factories.GroupFactory(id=OBJECT_ID, group_type="device")
    GroupMembership.objects.create(id=OBJECT_ID, group=group, device=device)
    assignment = Assignment.objects.create(
        id=OBJECT_ID, app=app, group=group, intent="required", license_type="device"
    )
    license_ = License.objects.create(
        id=OBJECT_ID, app=app, assignment=assignment, license_type="device", device=device, state="assigned"
    )
    sync_run = SyncRun.objects.create(id=OBJECT_ID, vpp_token=token, trigger="manual", status="completed")
    # Sync runs and license runs are kinds of one run table: the license run gets the next id.
    license_run = LicenseRun.objects.create(id=OBJECT_ID + 100, kind="allocate", status="completed", app=app)
    audit = AuditEntry.objects.create(id=OBJECT_ID, actor_name="system", action="seed", object_type="app")
    return {
        "token": token,
        "app": app,
        "user": user,
        "device": device,
        "group": group,
        "assignment": assignment,
        "license": license_,
        "sync_run": sync_run,
        "license_run": license_run,
        "audit": audit,
    }
