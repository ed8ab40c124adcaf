"""``manage.py make_simulator_token``: write a ``.vpptoken`` file any local simulator accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from vpp.simulator.tokens import derive_uid, mint_token


class Command(BaseCommand):
    help = "Mint a simulator content token (.vpptoken) for a location."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organisation name (orgName)")
        parser.add_argument("--location", required=True, help="location name")
        parser.add_argument("--days", type=int, default=365, help="validity; negative for an expired token")
        parser.add_argument("--account-type", choices=["business", "education"], default="business")
        parser.add_argument("--country", default="US")
        parser.add_argument("--key-file", default=None, help="signing key (default var/simulator.key)")
        parser.add_argument("-o", "--output", required=True, help="file to write, e.g. contoso.vpptoken")

    def handle(self, *args: Any, **options: Any) -> None:
        token = mint_token(
            org_name=options["org"],
            location_name=options["location"],
            days=options["days"],
            country=options["country"],
            account_type=options["account_type"],
            key_file=options["key_file"],
        )
        output = Path(options["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(token)
        uid = derive_uid(options["org"], options["location"])
        self.stdout.write(f"wrote {output} (location uId {uid})")
