"""``manage.py generate_simulator_location``: a large location as a simulator state file, plus its token."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from vpp.simulator.generator import generate_location_data, write_state_file
from vpp.simulator.tokens import mint_token


class Command(BaseCommand):
    help = "Generate a large simulated location (state file for run_apple_simulator --state) and a token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--assets", type=int, default=5000)
        parser.add_argument("--assignments", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=100)
        parser.add_argument("--org", required=True)
        parser.add_argument("--location", required=True)
        parser.add_argument("--country", default="US")
        parser.add_argument("--account-type", choices=["business", "education"], default="business")
        parser.add_argument("--key-file", default=None)
        parser.add_argument("-o", "--output", required=True, help="state file to write (JSON)")
        parser.add_argument("--token-output", default=None, help="default: OUTPUT with suffix .vpptoken")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        data = generate_location_data(
            org_name=options["org"],
            location_name=options["location"],
            assets=options["assets"],
            assignments=options["assignments"],
            users=options["users"],
            country=options["country"],
            account_type=options["account_type"],
        )
        output = Path(options["output"])
        write_state_file(output, data)
        token_path = Path(options["token_output"] or output.with_suffix(".vpptoken"))
        token_path.write_text(
            mint_token(
                org_name=options["org"],
                location_name=options["location"],
                country=options["country"],
                account_type=options["account_type"],
                key_file=options["key_file"],
            )
        )
        uid = data["locations"][0]["uId"]
        self.stdout.write(
            f"wrote {output} (location uId {uid}, {options['assets']} assets, {options['assignments']} "
            f"assignments) and token {token_path} in {time.monotonic() - started:.1f}s"
        )
