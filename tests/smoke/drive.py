"""Drive a production stack started by `.ci/smoke.sh` through its public API and pages (not a pytest module).

Standard library only, like an operator's script: every step checks what the console answers and fails with a
message naming the step. Environment: SMOKE_BASE_URL, SMOKE_APPLE_URL, SMOKE_API_TOKEN, SMOKE_USERNAME,
SMOKE_PASSWORD, SMOKE_MDM_URL, SMOKE_LOGS (the folder with each process's `<name>.pid`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BASE = os.environ["SMOKE_BASE_URL"].rstrip("/")
APPLE = os.environ["SMOKE_APPLE_URL"].rstrip("/")
MDM = os.environ["SMOKE_MDM_URL"].rstrip("/")
API_TOKEN = os.environ["SMOKE_API_TOKEN"]
LOGS = Path(os.environ["SMOKE_LOGS"])
STARTED = time.monotonic()
DEVICES = 6
LARGE_ASSIGNMENTS = 40_000


class SmokeFailure(Exception):
    pass


def step(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


def check(condition: Any, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def http(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def api(
    method: str, path: str, data: Any = None, *, files: dict[str, tuple[str, bytes]] | None = None
) -> Any:
    headers = {"Authorization": f"Token {API_TOKEN}", "Accept": "application/json"}
    body = None
    if files is not None:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in (data or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, (filename, content) in files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    status, _headers, raw = http(method, f"{BASE}/api/v1/{path.lstrip('/')}", body=body, headers=headers)
    check(status < 400, f"{method} /api/v1/{path} answered {status}: {raw[:500]!r}")
    return json.loads(raw) if raw else None


def apple_control(path: str, data: dict, *, root: str = APPLE) -> Any:
    status, _headers, raw = http(
        "POST",
        f"{root}/_simulator/{path}",
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json"},
    )
    check(status == 200, f"Apple simulator {path}: {status} {raw[:200]!r}")
    return json.loads(raw)


def wait_for(what: str, probe, seconds: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, SmokeFailure) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise SmokeFailure(f"{what}: not within {seconds:.0f} s (last: {last!r})")


def healthz() -> tuple[int, dict]:
    status, _headers, raw = http("GET", f"{BASE}/healthz", timeout=10)
    return status, json.loads(raw)


class Browser:
    """Pages as a signed-in person sees them. Cookies are kept by hand: the production cookies are `Secure`
    and this loopback run is plain HTTP (behind the real TLS proxy they travel over HTTPS)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"{BASE}{path}"
        opener = urllib.request.build_opener(_NoRedirect)
        request = urllib.request.Request(f"{BASE}{path}", data=body, method=method, headers=headers)
        try:
            response = opener.open(request, timeout=30)
            status, answer_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, answer_headers, raw = exc.code, exc.headers, exc.read()
        for value in answer_headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return status, dict(answer_headers.items()), raw

    def sign_in(self, username: str, password: str) -> None:
        status, _h, _raw = self.request("GET", "/login/")
        check(status == 200 and "csrftoken" in self.cookies, f"sign-in page: {status}")
        form = {"username": username, "password": password, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        status, _headers, raw = self.request("POST", "/login/", form)
        check(status == 302, f"signing in answered {status}: {raw[:300]!r}")
        check("sessionid" in self.cookies, "no session cookie after signing in")

    def page(self, path: str, *expected: str) -> str:
        status, _h, raw = self.request("GET", path)
        text = raw.decode()
        check(status == 200, f"GET {path} answered {status}")
        for words in expected:
            check(words in text, f"GET {path} does not show {words!r}")
        return text


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def upload_token(content: str, name: str, account_type: str) -> dict:
    return api(
        "POST",
        "vpp-tokens/",
        {
            "name": name,
            "apple_id": f"{name.lower().replace(' ', '-')}@example.com",
            "country_or_region": "US",
            "account_type": account_type,
            "acknowledge_single_mdm": "true",
        },
        files={"token_file": (f"{name}.vpptoken", content.encode())},
    )


def token_synced(token_id: int) -> dict | None:
    token = api("GET", f"vpp-tokens/{token_id}/")
    check(token["last_sync_status"] != "failed", f"token {token['name']}: the sync failed")
    return token if token["last_sync_status"] == "completed" else None


def run_finished(run_id: int) -> dict | None:
    run = api("GET", f"sync-runs/{run_id}/")
    check(run["status"] != "failed", f"sync run {run_id} failed: {run.get('error')}")
    return run if run["status"] == "completed" else None


def main() -> None:
    step("waiting for the web server, beat's first heartbeat and empty queues (/healthz 200)")
    status, body = wait_for("/healthz answers 200", lambda: (s := healthz())[0] == 200 and s, 60)[0:2]
    check(body["beat"] == "ok" and body["queues"] == "ok", f"/healthz: {body}")

    step("Apple: a small location (the demo school) and a large one (40,000 assignments)")
    small_file = apple_control(
        "tokens", {"org_name": "Contoso Ltd", "location_name": "Contoso Schools", "account_type": "education"}
    )["token"]
    large_file = apple_control(
        "locations/generate",
        {
            "org_name": "Smoke Ltd",
            "location_name": "Warehouse",
            "assets": 200,
            "assignments": LARGE_ASSIGNMENTS,
            "users": 50,
        },
    )["token"]

    step("upload the small token through the API; its first sync runs on the sync queue")
    small = upload_token(small_file, "Contoso Schools", "education")
    small = wait_for("the small token's first sync", lambda: token_synced(small["id"]), 60)
    check(small["app_count"] > 0, f"no apps after the first sync: {small}")

    step("upload the large token: its first sync keeps the bulk worker busy")
    large = upload_token(large_file, "Warehouse", "business")

    def large_running():
        runs = api("GET", f"sync-runs/?vpp_token={large['id']}")["results"]
        return [r for r in runs if r["status"] == "running"]

    wait_for("the large token's sync starts", large_running, 30, every=0.2)

    step('"Sync now" of the small token while the large sync runs: the interactive worker takes it')
    run = api("POST", f"vpp-tokens/{small['id']}/sync/")
    done = wait_for("the small token's Sync now", lambda: run_finished(run["id"]), 30, every=0.2)
    large_runs = api("GET", f"sync-runs/?vpp_token={large['id']}")["results"]
    check(
        any(r["status"] == "running" for r in large_runs),
        f"the large sync was no longer running when the small one finished: {large_runs}",
    )
    ran_on = [name for name in ("interactive", "worker") if runs_received(name)]
    check(ran_on == ["interactive", "worker"], f"sync tasks ran on {ran_on}, not on both workers")
    step(f"small sync finished ({done['status']}) on the interactive worker while the large one was running")
    wait_for("the large token's first sync", lambda: token_synced(large["id"]), 90)
    step("large sync finished")

    step(f"directory: {DEVICES} devices in a device group")
    serials = [f"SMOKE{uuid.uuid4().hex[:7].upper()}" for _ in range(DEVICES)]
    devices = [
        api("POST", "devices/", {"serial_number": s, "name": f"Smoke iPad {i + 1}", "platform": "iPadOS"})
        for i, s in enumerate(serials)
    ]
    group = api("POST", "groups/", {"name": "Smoke iPads", "group_type": "device"})
    api("POST", f"groups/{group['id']}/members/", {"devices": [d["id"] for d in devices]})

    step("the devices enrol in NanoMDM (its stand-in), which tells the console through its signed webhook")
    apple_control("devices/enroll", {"serial_numbers": serials}, root=MDM)

    def enrolled():
        return all(api("GET", f"devices/{d['id']}/")["mdm_enrolled"] for d in devices)

    wait_for("the console sees every device enrolled", enrolled, 60)

    step("assign GarageBand Required (device licensing) to the group")
    apps = api("GET", f"apps/?vpp_token={small['id']}&search=408709785")["results"]
    check(len(apps) == 1, f"GarageBand not in the small token's catalogue: {apps}")
    app = apps[0]
    assignment = api(
        "POST",
        f"apps/{app['id']}/assignments/",
        {"group": group["id"], "intent": "required", "license_type": "device"},
    )
    check(assignment["licenses_needed"] == DEVICES, f"pre-flight figures: {assignment}")

    def licenses_assigned():
        page = api("GET", f"licenses/?app={app['id']}&state=assigned&license_type=device&page_size=200")
        held = {lic["serial_number"] for lic in page["results"]}
        return set(serials) <= held and page

    # Apple's association events are polled every 30 s (assignments.tasks.POLL_SECONDS).
    licenses = wait_for("every device's license is assigned", licenses_assigned, 90)
    step(f"{licenses['count']} device licenses assigned")

    def installed():
        page = api("GET", f"apps/{app['id']}/device-statuses/?page_size=200")
        states = {row["serial_number"]: row["install_state"] for row in page["results"]}
        failed = {s: st for s, st in states.items() if s in serials and st == "failed"}
        check(not failed, f"installs failed: {failed}")
        return all(states.get(s) == "installed" for s in serials) and states

    wait_for("GarageBand installed on every device (NanoMDM)", installed, 90)
    step(f"installed on all {DEVICES} devices")

    step("pages and a CSV export, signed in as the administrator")
    browser = Browser()
    browser.sign_in(os.environ["SMOKE_USERNAME"], os.environ["SMOKE_PASSWORD"])
    home = browser.page("/", "Contoso Schools")
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', home)
    check(stylesheet, "the home page links no stylesheet")
    status, headers, css = browser.request("GET", stylesheet.group(1))
    check(status == 200 and "text/css" in headers.get("Content-Type", "") and css, f"stylesheet: {status}")
    browser.page("/tokens/", "Contoso Schools", "Warehouse")
    status, headers, raw = browser.request("GET", f"/assignments/licenses/?app={app['id']}&export=csv")
    check(status == 200 and "text/csv" in headers.get("Content-Type", ""), f"CSV export: {status} {headers}")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    exported = {cell for row in rows[1:] for cell in row}
    check(set(serials) <= exported, f"the CSV export lacks serial numbers: {rows[:3]}")
    step(f"CSV export: {len(rows) - 1} licenses")

    status, body = healthz()
    check(status == 200, f"/healthz after the run: {status} {body}")
    check(body["beat_age_seconds"] is not None and body["beat_age_seconds"] < 30, f"beat: {body}")
    step(f"/healthz: {body}")

    kill_a_worker_mid_run(large["id"])

    status, body = healthz()
    check(status == 200, f"/healthz with one worker left: {status} {body}")
    step(f"/healthz with one worker left: {body['status']}, beat {body['beat']}, queues {body['queues']}")


def kill_a_worker_mid_run(token_id: int) -> None:
    """A "Sync now" of the large token (interactive queue: both workers serve it); SIGKILL the worker that
    took it while it runs; beat's lost-run sweep ends the run and starts it again; the other worker finishes
    it."""
    step('"Sync now" of the large token, then kill the worker running it')
    before = {name: runs_received(name) for name in WORKERS}
    run = api("POST", f"vpp-tokens/{token_id}/sync/")
    wait_for(
        "the sync is running", lambda: api("GET", f"sync-runs/{run['id']}/")["status"] == "running", 30, 0.1
    )
    took = wait_for(
        "a worker's log shows the run", lambda: [n for n in WORKERS if runs_received(n) > before[n]], 10, 0.1
    )
    (victim,) = took
    survivor = next(n for n in WORKERS if n != victim)
    kill(victim)
    step(f"killed the {victim} worker (SIGKILL, its child processes too) while run {run['id']} was running")
    left = runs_received(survivor)

    def lost_and_redone():
        runs = api("GET", f"sync-runs/?vpp_token={token_id}&page_size=50")["results"]
        lost = next(r for r in runs if r["id"] == run["id"])
        again = [r for r in runs if r["id"] > run["id"]]
        if lost["status"] == "running" or not again:
            return None
        check(lost["status"] == "failed", f"the killed run ended {lost['status']}")
        return lost, again[0]

    # The run's heartbeat stops; the sweep (every RUN_SWEEP_SECONDS) ends it after RUN_LOST_AFTER_SECONDS.
    lost, again = wait_for("the lost run is ended and started again", lost_and_redone, 120, 1)
    step(f"run {lost['id']} ended as lost ({lost['error']}); run {again['id']} started again")
    done = wait_for("the run started again finishes", lambda: run_finished(again["id"]), 60)
    check(runs_received(survivor) > left, f"the {survivor} worker's log does not show the run started again")
    step(f"run {done['id']} {done['status']} on the {survivor} worker")


WORKERS = ("interactive", "worker")
RUN_RECEIVED = re.compile(r"Task console\.tasks\.execute_run\[[0-9a-f-]+\] received")


def runs_received(name: str) -> int:
    """How many runs the worker `name` took so far (its log)."""
    return len(RUN_RECEIVED.findall((LOGS / f"{name}.log").read_text(errors="replace")))


def kill(name: str) -> None:
    pid = int((LOGS / f"{name}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    try:
        main()
    except SmokeFailure as exc:
        step(f"FAILED: {exc}")
        sys.exit(1)
    step("all steps passed")
