"""The messages a sync stores (its run's error and warning), as codes of `console.messages`; loaded at
start-up by `console` (every app's `messages` module)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from console.messages import define

METADATA_UNREADABLE = define(
    "sync.metadata_unreadable",
    gettext_noop("Store metadata could not be read (%(error)s); names and icons were kept."),
)
TOKEN_UNUSABLE = define(
    "sync.token_unusable", gettext_noop("The token cannot be used (%(state)s); no call was made to Apple.")
)
TOKEN_STATE = define("sync.token_state", gettext_noop("The token is %(state)s."))
UNTRACKED_NOT_REFRESHED = define(
    "sync.untracked_not_refreshed",
    gettext_noop(
        "Apple's assignments were saved, but the untracked licenses could not be updated; the next sync or"
        " reconciliation updates them."
    ),
)
