"""The messages the tokens app stores (a token's state detail), as codes of `console.messages`; loaded at
start-up by `console` (every app's `messages` module)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from console.messages import define

EXTERNAL_MDM = define("token.external_mdm", gettext_noop("Managed by another MDM: %(name)s"))
NOTIFICATIONS_NOT_SET_UP = define(
    "token.notifications_not_set_up",
    gettext_noop("Apple notifications could not be set up (%(error)s); scheduled syncs still run."),
)
