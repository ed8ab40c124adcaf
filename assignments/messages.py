"""The messages the assignments app stores (licenses', Apple users' and license runs' errors), as codes of
`console.messages`: rows keep the code and its parameters, pages and the API say them in the reader's
language. Loaded at start-up by `console` (every app's `messages` module): a stored code is always known."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from console.messages import define

# Stored as message codes (console.messages) and shown in the reader's language.
NO_LICENSES = define("license.no_licenses", gettext_noop("No licenses available"))
DEVICE_LIMIT = define(
    "license.device_limit",
    gettext_noop("This user's license already covers five devices (Apple allows five per user license)."),
)
# S12: on the failed row of a device that cannot use its user's license.
APP_STORE_BLOCKED = define(
    "license.app_store_blocked",
    gettext_noop(
        "The App Store is blocked on this device, so user licensing cannot work. "
        "Allow the App Store or use device licensing."
    ),
)
BOOK_NEEDS_USER = define(
    "license.book_needs_user", gettext_noop("Books can only be assigned to users (user licensing).")
)
NO_DEVICE_LICENSING = define(
    "license.no_device_licensing", gettext_noop("This app does not support device licensing.")
)
DEP_WITHOUT_USER = define(
    "license.dep_without_user",
    gettext_noop(
        "This device was enrolled through Automated Device Enrollment (DEP) without user affinity: "
        "set a primary user to give it user-licensed apps."
    ),
)
NO_PRIMARY_USER = define(
    "license.no_primary_user", gettext_noop("This device has no primary user to hold a user license.")
)
NO_USER = define("license.no_user", gettext_noop("No user to hold the license."))
USER_DEACTIVATED = define("license.user_deactivated", gettext_noop("The user is deactivated."))
NO_APPLE_ID = define(
    "license.no_apple_id",
    gettext_noop("The user has no Apple ID or managed Apple ID; user licensing needs one."),
)
TOKEN_UNUSABLE = define("license.token_unusable", gettext_noop("The VPP token cannot be used: %(state)s."))

# A failed license of an assignment that was removed.
ASSIGNMENT_REMOVED = define("license.assignment_removed", gettext_noop("Assignment removed"))
# A license run whose Apple events never finished.
APPLE_TOO_SLOW = define(
    "run.apple_too_slow",
    gettext_noop("Apple did not finish the requests in time; reconciliation will settle them."),
)
