"""``manage.py run_apple_simulator``: serve the Apple App and Book Management simulator until stopped."""

from __future__ import annotations

import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from vpp.simulator import Simulator


class Command(BaseCommand):
    help = "Run the simulated Apple App and Book Management API (v2) over HTTP."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--fixture", default="demo", help="demo, empty or a path to a fixture JSON file")
        parser.add_argument("--state", action="append", default=[], help="state file(s) to load on top")
        parser.add_argument(
            "--persist",
            default=None,
            metavar="FILE",
            help="load the whole state from FILE if it exists; save it there while running and on exit",
        )
        parser.add_argument("--allow-insecure-notification-urls", action="store_true")
        parser.add_argument("--event-delay", type=float, default=None)
        parser.add_argument("--page-size", type=int, default=None)
        parser.add_argument("--max-request-per-second", type=int, default=None)
        parser.add_argument("--public-url", default=None, help="base used in service/config URLs")
        parser.add_argument("--key-file", default=None, help="token signing key (default var/simulator.key)")
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args: Any, **options: Any) -> None:
        settings: dict[str, Any] = {
            "allow_insecure_notification_urls": options["allow_insecure_notification_urls"],
            "log_requests": not options["quiet"],
        }
        for option, name in (
            ("event_delay", "event_delay"),
            ("page_size", "page_size"),
            ("max_request_per_second", "max_request_per_second"),
            ("public_url", "public_url"),
            ("key_file", "key_file"),
            ("persist", "persist_file"),
        ):
            if options[option] is not None:
                settings[name] = options[option]
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        simulator = Simulator(
            fixture=options["fixture"], host=options["host"], port=options["port"], **settings
        )
        if simulator.restored:
            self.stdout.write(f"restored state from {simulator.persist_file}")
        for path in options["state"]:
            # After a restore the file's locations are already in the persisted state, possibly changed.
            uids = simulator.load_state_file(path, keep_existing=simulator.restored)
            self.stdout.write(f"loaded {path}: locations {', '.join(uids) or '(all already present)'}")

        stopping = False

        def on_sigterm(signum: int, frame: Any) -> None:
            nonlocal stopping
            if not stopping:  # a second SIGTERM must not interrupt the final save
                stopping = True
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_sigterm)
        try:
            simulator.start()
            self.stdout.write(
                f"Apple simulator at {simulator.base_url} (control: {simulator.root_url}/_simulator/)"
            )
            simulator.serve_forever()
        except KeyboardInterrupt:
            stopping = True
            self.stdout.write("stopped")
        finally:
            stopping = True
            simulator.stop()
            if simulator.persist_file:
                self.stdout.write(f"state persisted in {simulator.persist_file}")
            signal.signal(signal.SIGTERM, previous)
