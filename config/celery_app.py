"""The Celery application: worker and beat. Tasks live in each Django app's tasks.py; routing to named queues
in config/queues.py."""

import os

from celery import Celery
from celery.signals import beat_init, before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("vpp_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect(weak=False)
def _stamp_sent_at(sender=None, headers=None, **kwargs):
    from config.queues import stamp_sent_at

    stamp_sent_at(headers=headers)


@beat_init.connect(weak=False)
def _first_heartbeat(sender=None, **kwargs):
    """Beat's first heartbeat goes out as it starts (the schedule's first one comes a minute later)."""
    app.send_task("console.tasks.heartbeat")


@task_prerun.connect(weak=False)
def _task_started(sender=None, task_id=None, **kwargs):
    from console.metrics import task_started

    task_started(task_id)


@task_postrun.connect(weak=False)
def _task_finished(sender=None, task_id=None, state=None, **kwargs):
    from console.metrics import task_finished

    task_finished(getattr(sender, "name", "unknown"), task_id, state)
