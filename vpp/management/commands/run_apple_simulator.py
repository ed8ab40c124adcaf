"""``manage.py run_apple_simulator``: serve the Apple App and Book Management simulator until Ctrl-C."""

from __future__ import annotations

import logging
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
        ):
            if options[option] is not None:
                settings[name] = options[option]
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        simulator = Simulator(
            fixture=options["fixture"], host=options["host"], port=options["port"], **settings
        )
        for path in options["state"]:
            uids = simulator.load_state_file(path)
            self.stdout.write(f"loaded {path}: locations {', '.join(uids)}")
        simulator.start()
        self.stdout.write(
            f"Apple simulator at {simulator.base_url} (control: {simulator.root_url}/_simulator/)"
        )
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        finally:
            simulator.stop()
