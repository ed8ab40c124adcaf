"""The README's production section is what CI's smoke test runs: the Procfile's commands, the release
commands, and `make run` without DEBUG unless asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            entries[match[1]] = " ".join(match[2].split())
    return entries


def _readme_production() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Running in production") :]


def test_readme_shows_the_procfile_commands_one_for_one():
    section = _readme_production()
    block = section[section.index("```\n") + 4 : section.index("```", section.index("```\n") + 4)]
    joined = re.sub(r"\\\n\s*", " ", block)
    readme = {}
    for line in joined.splitlines():
        name, _, command = line.partition(":")
        readme[name.strip()] = " ".join(command.split())
    assert readme == _procfile()
    assert set(readme) == {"web", "interactive", "worker", "beat"}


def test_every_named_queue_is_served_and_beat_is_one_line():
    from django.conf import settings

    from config import queues

    served = set()
    for command in _procfile().values():
        match = re.search(r"--queues (\S+)", command)
        if match:
            served |= set(match[1].split(","))
    assert served == set(queues.ALL)
    assert "interactive" in _procfile()["interactive"] and "sync" not in _procfile()["interactive"]
    assert [name for name, cmd in _procfile().items() if " beat" in cmd] == ["beat"]
    assert settings.CELERY_BEAT_SCHEDULE["heartbeat"]["task"] == "console.tasks.heartbeat"


def test_smoke_test_runs_the_readme_release_commands_and_every_procfile_line():
    smoke = (ROOT / ".ci" / "smoke.sh").read_text()
    section = _readme_production()
    release = re.findall(r"^\s*(python manage\.py [^#\n]+?)\s*(?:#.*)?$", section, re.M)
    assert release, "the README lists no release commands"
    for command in release:
        if "check --deploy" in command:  # .ci/run runs it with the HTTPS settings
            assert "check --deploy" in (ROOT / ".ci" / "run").read_text()
            continue
        assert command.split(" alice")[0] in smoke, command
    assert "for name in web interactive worker beat; do" in smoke
    assert ".ci/smoke.sh" in (ROOT / ".ci" / "run").read_text()


def _debug(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", **extra)
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_make_run_has_debug_off_unless_django_debug_is_set():
    assert _debug() == "False"
    assert _debug(DJANGO_DEBUG="1") == "True"
