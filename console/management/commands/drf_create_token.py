"""`manage.py drf_create_token <username>`: DRF's bootstrap command, kept with the same usage and output
("Generated token <key> for user <username>", one line) now that keys are stored hashed.

DRF's command printed the user's one existing key again; a hashed key cannot be read back, so each run
creates a new key (`--reset` first revokes the user's other keys)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from console.api_keys import api_key_create, api_key_revoke_all

KEY_NAME = "manage.py drf_create_token"


class Command(BaseCommand):
    help = "Create an API key for a given user and print it (once: only its digest is stored)"

    def add_arguments(self, parser):
        parser.add_argument("username", type=str)
        parser.add_argument(
            "-r",
            "--reset",
            action="store_true",
            dest="reset_token",
            default=False,
            help="Revoke the user's existing keys before creating a new one",
        )

    def handle(self, *args, **options):
        username = options["username"]
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"Cannot create the Token: user {username} does not exist") from None
        if options["reset_token"]:
            api_key_revoke_all(user=user, actor=None)
        _key, plain = api_key_create(user=user, name=KEY_NAME, actor=None)
        self.stdout.write(f"Generated token {plain} for user {username}")
