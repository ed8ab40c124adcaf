"""`make run`: migrate, start the Apple simulator, the NanoMDM stand-in, the web server, a Celery worker and
beat, load the demo, and enrol the demo devices through the stand-in (so installs go pending → installed).

Everything runs in the foreground as child processes of this command; Ctrl-C stops them all. Their output goes
to var/log/<name>.log, so the last thing on the terminal is the box with the address and the sign-in details.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from directory.models import Device
from home.demo import load_demo
from mdm.simulator.control import MDMSimulatorControl

SIMULATOR_PORT = 8765
MDM_SIMULATOR_PORT = 8766


def _wait_for(url: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _boxed(lines: list[str]) -> str:
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 4) + "+"
    return "\n".join([rule, *(f"|  {line:<{width}}  |" for line in lines), rule])


class Command(BaseCommand):
    help = "Run the whole console for development: web, Celery worker and beat, Apple simulator, demo data."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="do not load demo data")

    def handle(self, *args, port: int, no_demo: bool, **options):
        self.children: list[subprocess.Popen] = []
        self.names: list[str] = []
        signal.signal(signal.SIGTERM, lambda *_: self._stop(0))
        # Ctrl-C stops everything, even when started from a shell that ignores SIGINT in background jobs.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        python = sys.executable
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
        }

        simulated = urlparse(settings.APPLE_VPP_BASE_URL).port == SIMULATOR_PORT
        # Without a NanoMDM of its own, the console deploys through the stand-in (mdm/simulator/).
        mdm_simulated = not settings.NANOMDM_URL
        if mdm_simulated:
            mdm = {
                "NANOMDM_URL": f"http://127.0.0.1:{MDM_SIMULATOR_PORT}",
                "NANOMDM_API_KEY": secrets.token_urlsafe(24),
                "NANOMDM_WEBHOOK_HMAC_KEY": secrets.token_urlsafe(32),
            }
            env.update(mdm)
            for name, value in mdm.items():
                setattr(settings, name, value)
        try:
            if simulated:
                if not _port_free(SIMULATOR_PORT):
                    self.stderr.write(f"Port {SIMULATOR_PORT} is in use; is another `make run` running?")
                    return
                self._start(
                    "apple-simulator",
                    [
                        python,
                        "manage.py",
                        "run_apple_simulator",
                        "--port",
                        str(SIMULATOR_PORT),
                        "--fixture",
                        "demo",
                        "--allow-insecure-notification-urls",
                        "--quiet",
                        "--persist",
                        str(settings.VAR_DIR / "simulator-state.json"),
                    ],
                    env,
                )
                if not _wait_for(f"http://127.0.0.1:{SIMULATOR_PORT}/mdm/v2/service/config"):
                    raise RuntimeError("the Apple simulator did not start")
            if mdm_simulated:
                if not _port_free(MDM_SIMULATOR_PORT):
                    self.stderr.write(f"Port {MDM_SIMULATOR_PORT} is in use; is another `make run` running?")
                    self._stop(1)
                argv = [python, "-m", "mdm.simulator", "--port", str(MDM_SIMULATOR_PORT)]
                argv += ["--webhook-url", f"http://127.0.0.1:{port}/webhooks/nanomdm/"]
                if simulated:  # devices ask the Apple simulator for their license before installing
                    argv += ["--apple-url", f"http://127.0.0.1:{SIMULATOR_PORT}"]
                self._start("nanomdm-simulator", argv, env)  # keys come from the environment
                if not _wait_for(f"http://127.0.0.1:{MDM_SIMULATOR_PORT}/_simulator"):
                    raise RuntimeError("the NanoMDM simulator did not start")
            if not _port_free(port):
                self.stderr.write(f"Port {port} is in use; pass --port or set PORT.")
                self._stop(1)
            self._start("web", [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env)
            # One worker serves every named queue (config/queues.py); production splits them (Procfile).
            self._start(
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--queues",
                    ",".join(settings.VPP_QUEUES),
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                ],
                env,
            )
            self._start(
                "beat",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(settings.VAR_DIR / "celerybeat-schedule"),
                ],
                env,
            )
            if not _wait_for(f"http://127.0.0.1:{port}/healthz?scope=web"):
                raise RuntimeError("the web server did not start")
            credentials = None
            if not no_demo:
                credentials = load_demo(stdout=self.stdout)
                if mdm_simulated:
                    self._enrol_demo_devices()
            self._banner(port, credentials, simulated, mdm_simulated)
            while True:
                for name, child in zip(self.names, self.children, strict=True):
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with {child.returncode}; stopping. Its last lines:")
                        self.stderr.write(self._tail(name))
                        self._stop(1)
                time.sleep(1)
        except KeyboardInterrupt:
            self._stop(0)
        except Exception:
            self._stop(1, raise_=True)

    def _log(self, name: str):
        return settings.VAR_DIR / "log" / f"{name}.log"

    def _start(self, name: str, argv: list[str], env: dict) -> None:
        log = self._log(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"starting {name} (output in {log.relative_to(settings.BASE_DIR)})")
        self.stdout.flush()
        with open(log, "w") as out:
            child = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.names.append(name)
        self.children.append(child)

    def _tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self._log(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _enrol_demo_devices(self) -> None:
        """The directory's demo devices enrol in the stand-in, which tells the console through its webhook."""
        serials = list(Device.objects.filter(is_active=True).values_list("serial_number", flat=True))
        if serials:
            MDMSimulatorControl(settings.NANOMDM_URL).enroll_serials(serials)
            self.stdout.write(f"enrolled {len(serials)} demo devices in the NanoMDM simulator")

    def _banner(self, port: int, credentials, simulated: bool, mdm_simulated: bool = False) -> None:
        rows: list[tuple[str, str]] = [("Console", f"http://127.0.0.1:{port}/")]
        for role, (username, password) in (credentials or {}).items():
            rows.append((role, f"{username} / {password}"))
        rows += [
            ("", ""),
            ("API docs", f"http://127.0.0.1:{port}/api/v1/docs/"),
            ("Health", f"http://127.0.0.1:{port}/healthz"),
        ]
        if simulated:
            rows.append(("Apple (simulated)", f"http://127.0.0.1:{SIMULATOR_PORT}/mdm/v2/"))
        if mdm_simulated:
            rows.append(("NanoMDM (simulated)", f"http://127.0.0.1:{MDM_SIMULATOR_PORT}/_simulator"))
        rows.append(("Logs", str(self._log("*").relative_to(settings.BASE_DIR))))
        width = max(len(label) for label, _ in rows) + 1
        lines = ["VPP Console is running.", ""]
        lines += [f"  {label + ':' if label else '':<{width}} {value}".rstrip() for label, value in rows]
        lines += ["", "Ctrl-C stops everything."]
        self.stdout.write("\n" + self.style.SUCCESS(_boxed(lines)))
        self.stdout.flush()  # shown at once also when the output goes to a pipe or a file (block-buffered)

    def _stop(self, code: int, raise_: bool = False) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        self.children = []
        if raise_:
            raise
        raise SystemExit(code)
