"""The Celery application: worker and beat. Tasks live in each Django app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("vpp_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
