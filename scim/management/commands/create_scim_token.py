"""`manage.py create_scim_token <client name>`: a bearer token for an identity provider, on the last line.

Creates the SCIM client when the name is new; for an existing client it issues a new token and the old one
stops working. The token is shown this once (only its hash is stored).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from scim import services
from scim.models import ScimClient


class Command(BaseCommand):
    help = "Create a SCIM client (or give an existing one a new token) and print its bearer token."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The identity provider, for example “Entra ID”.")

    def handle(self, *args, name: str, **options):
        client = ScimClient.objects.filter(name__iexact=name.strip()).first()
        try:
            if client is None:
                client, token = services.scim_client_create(name=name, actor=None)
                self.stderr.write(f"Created the SCIM client “{client.name}”. Its token (shown once):")
            else:
                token = services.scim_client_new_token(client=client, actor=None)
                self.stderr.write(f"New token for “{client.name}”; the old one no longer works (shown once):")
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(token)
