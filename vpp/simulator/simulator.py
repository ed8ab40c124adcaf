"""``Simulator``: the in-process handle on a running simulated Apple service."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .generator import generate_location_data
from .persistence import Persister, load_or_quarantine
from .server import SimulatorHTTPServer
from .settings import SimulatorSettings
from .state import SimulatorState


class Simulator:
    """A faithful, stateful simulator of Apple's App and Book Management API v2, served over real HTTP.

    ``Simulator(fixture="demo", port=0, event_delay=0.05).start()`` serves in a daemon thread; keyword
    arguments are ``SimulatorSettings`` fields. The control methods mirror the ``/_simulator/`` endpoints.
    With ``persist_file=PATH`` the state is loaded from PATH if it exists (``restored`` is then True) and
    saved back while running and on ``stop()``.
    """

    def __init__(
        self, fixture: str = "demo", host: str = "127.0.0.1", port: int = 0, **settings: Any
    ) -> None:
        self.settings = SimulatorSettings()
        self.settings.update(settings)
        self.state = SimulatorState(self.settings, fixture=fixture)
        self.host = host
        self.port = port
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.persist_file = Path(self.settings.persist_file) if self.settings.persist_file else None
        self.restored = bool(self.persist_file and load_or_quarantine(self.state, self.persist_file))
        self._persister = (
            Persister(self.state, self.persist_file, self.settings.persist_interval)
            if self.persist_file
            else None
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        """Bind, start the event and notification workers and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = SimulatorHTTPServer((self.host, self.port), self.state)
        self.port = server.server_address[1]
        server.worker.start()
        server.notifier.start()
        with self.state.lock:
            # Events left pending by a previous run (persisted state) or a previous start/stop cycle.
            for event in self.state.events.values():
                if event.status == "PENDING":
                    server.worker.schedule(event)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="vpp-simulator-http",
            daemon=True,
        )
        self._thread.start()
        self._server = server
        if self._persister is not None:
            self._persister.start()
        return self

    def stop(self) -> None:
        """Stop serving and end the worker threads."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.worker.stop()
        server.notifier.stop()
        # Let an event being processed finish, so the final save does not run it twice after a restart.
        server.worker.thread.join(timeout=2)
        self._server = None
        if self._persister is not None:
            self._persister.stop()

    def save_state(self) -> bool:
        """Write the persist file now if the state changed; False without ``persist_file``."""
        return self._persister.save() if self._persister is not None else False

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (used by ``run_apple_simulator``)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` of the running simulator."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The v2 API base, e.g. ``http://127.0.0.1:54321/mdm/v2/``."""
        return f"{self.root_url}/mdm/v2/"

    @property
    def lookup_url(self) -> str:
        """The content metadata lookup URL (``urls.contentMetadataLookup``)."""
        return f"{self.root_url}/WebObjects/MZStorePlatform.woa/wa/lookup"

    # ---------------------------------------------------------------- tokens and state

    def mint_token(
        self,
        *,
        org_name: str,
        location_name: str,
        days: int = 365,
        account_type: str = "business",
        country: str = "US",
    ) -> str:
        """A ``.vpptoken`` file content for a location (created with the default assets if new)."""
        return self.state.mint_token(
            org_name=org_name,
            location_name=location_name,
            days=days,
            account_type=account_type,
            country=country,
        )

    def uid_of(self, token: str) -> str:
        """The uId of the location a token (minted by or shown to this simulator) belongs to."""
        with self.state.lock:
            uid = self.state.token_index.get(token)
        if uid is None:
            location, _ = self.state.authenticate(token)
            uid = location.uid
        return uid

    def locations(self) -> list[dict[str, Any]]:
        """Summaries of every location (``GET /_simulator/locations``)."""
        with self.state.lock:
            return [loc.summary() for loc in self.state.locations.values()]

    def location(self, uid: str, *, include_assignments: bool | None = None) -> dict[str, Any]:
        """Apple's whole state for one location (``GET /_simulator/locations/<uId>``)."""
        with self.state.lock:
            return self.state.location(uid).snapshot(include_assignments=include_assignments)

    def change_count(self, uid: str, adam_id: str, delta: int, pricing_param: str = "STDQ") -> dict[str, Any]:
        """Purchase / refund / transfer: change totalCount and send ASSET_COUNT."""
        return self.state.change_count(uid, adam_id, delta, pricing_param)

    def add_asset(self, uid: str, adam_id: str, **fields: Any) -> dict[str, Any]:
        """Add an asset (Apple field names: pricingParam, totalCount, productType, ..., catalog={...})."""
        return self.state.add_asset(uid, {"adamId": adam_id, **fields})

    def accept_invitation(self, uid: str, client_user_id: str, apple_id: str | None = None) -> dict[str, Any]:
        """The user accepts the invitation: Associated + idHash, USER_ASSOCIATED sent."""
        return self.state.accept_invitation(uid, client_user_id, apple_id)

    def set_token_state(self, uid: str, state: str) -> dict[str, Any]:
        """``valid``, ``expired`` or ``revoked`` for every token of the location."""
        return self.state.set_token_state(uid, state)

    def set_mdm_info(self, uid: str, *, id: str, name: str, metadata: str) -> dict[str, Any]:
        """Another MDM takes the token over (writes mdmInfo)."""
        return self.state.set_mdm_info(uid, {"id": id, "name": name, "metadata": metadata})

    def set_country(self, uid: str, country: str) -> dict[str, Any]:
        """Move the location to another country/storefront."""
        return self.state.set_country(uid, country)

    def set_app_version(self, adam_id: str, version: str) -> dict[str, Any]:
        """Publish a new version of an app in the catalogue."""
        return self.state.set_app_version(adam_id, version)

    def add_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        path: str | None = None,
        uid: str | None = None,
    ) -> dict[str, Any]:
        """Inject a fault (kinds: ``state.FAULT_KINDS``) firing ``count`` times."""
        return self.state.add_fault(
            {
                "kind": kind,
                "count": count,
                "retry_after": retry_after,
                "delay": delay,
                "path": path,
                "uid": uid,
            }
        )

    def clear_faults(self) -> None:
        """Remove all injected faults."""
        self.state.clear_faults()

    def set_notification_mode(self, mode: str) -> None:
        """normal, drop or duplicate."""
        self.state.set_notification_mode(mode)

    def notifications(self) -> list[dict[str, Any]]:
        """Notifications sent so far (url, body, mode, HTTP status, attempts), oldest first."""
        with self.state.lock:
            return [dict(n) for n in self.state.sent_notifications]

    def update_settings(self, **values: Any) -> dict[str, Any]:
        """Change settings at run time (see ``SimulatorSettings``)."""
        with self.state.lock:
            self.settings.update(values)
        return self.settings.as_dict()

    def reset(self, fixture: str | None = None) -> None:
        """Drop all state and reload a fixture (the current one by default)."""
        self.state.load_fixture(fixture or self.state.fixture)

    def load_state_file(self, path: str | Path, *, keep_existing: bool = False) -> list[str]:
        """Add the locations of a file written by ``generate_simulator_location``; returns their uIds.

        ``keep_existing`` skips locations already present (e.g. restored from ``persist_file``).
        """
        return self.state.load_state_file(path, keep_existing=keep_existing)

    def generate_location(
        self,
        *,
        org_name: str,
        location_name: str,
        assets: int = 100,
        assignments: int = 1000,
        users: int = 10,
        country: str = "US",
        account_type: str = "business",
    ) -> str:
        """Create a large synthetic location in memory; returns a token for it."""
        data = generate_location_data(
            org_name=org_name,
            location_name=location_name,
            assets=assets,
            assignments=assignments,
            users=users,
            country=country,
            account_type=account_type,
        )
        with self.state.lock:
            self.state.merge(data)
        return self.mint_token(
            org_name=org_name, location_name=location_name, country=country, account_type=account_type
        )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until queued events are processed and their notifications delivered or given up."""
        if self._server is None:
            return True
        return self._server.wait_idle(timeout)
