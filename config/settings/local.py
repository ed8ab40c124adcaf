"""Development: `make run` with no environment. SQLite, the embedded broker, the built-in Apple simulator."""

from console.crypto import local_key

from .base import *  # noqa: F403
from .base import VAR_DIR, email_settings, env

# The demo is what people see first: real error pages. DJANGO_DEBUG=1 turns on Django's debug pages.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# whitenoise serves static files with DEBUG off too, straight from static/ and the apps (no stale copy).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-local-development-only")
# Mail goes to the terminal unless EMAIL_URL says otherwise.
globals().update(email_settings(env("EMAIL_URL", default="") or "consolemail://"))
# The demo talks to the simulator that `make run` starts, unless APPLE_VPP_BASE_URL says otherwise.
APPLE_VPP_BASE_URL = env("APPLE_VPP_BASE_URL", default="http://127.0.0.1:8765/mdm/v2/")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Development generates an encryption key once and keeps it under var/ (production must set one).
if not env("FIELD_ENCRYPTION_KEY", default=""):
    FIELD_ENCRYPTION_KEY = local_key(VAR_DIR / "field_encryption.key")
# The embedded broker's URL names no host; kombu's note about it is noise on the `make run` terminal.
LOGGING = {**LOGGING, "loggers": {"kombu.connection": {"level": "ERROR"}}}  # noqa: F405
