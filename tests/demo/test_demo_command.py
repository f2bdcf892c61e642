"""`make demo` / `manage.py demo`: the printed address follows HOST and PORT, a demo loaded
on an earlier day is rebuilt for today, and every demo portal account has the membership its
role needs."""

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from kapflow.accounts.models import Membership, Organisation
from kapflow.core import clock
from kapflow.courses.models import Course, CourseEvent
from kapflow.patients.models import Client, Companion
from tests.accounts.factories import OrganisationFactory

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 12  # enough for every kind of course the demo plans, quick to load


def _demo(*args) -> str:
    out = StringIO()
    call_command("demo", "--clients", str(CLIENTS), *args, stdout=out)
    return out.getvalue()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_serves_prints_and_links_at_host_and_port():
    recipe = subprocess.run(
        ["make", "-n", "demo", "PORT=8102"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    lines = recipe.splitlines()
    demo = next(line for line in lines if "manage.py demo" in line)
    # The ASGI application under uvicorn: the session room needs WebSockets (decision 0049).
    serve = next(line for line in lines if "uvicorn kapflow.config.asgi:application" in line)
    assert "KAPFLOW_BASE_URL=http://127.0.0.1:8102" in demo
    assert "KAPFLOW_BASE_URL=http://127.0.0.1:8102" in serve
    assert "--host 127.0.0.1 --port 8102" in serve


def _portal_accounts_have_memberships(practice):
    for client in Client.objects.for_org(practice).filter(user__isnull=False):
        membership = Membership.objects.get(organisation=practice, user=client.user)
        assert membership.is_active and membership.has_role("client"), client.user.email
    companions = Companion.objects.for_org(practice)
    assert companions.count() > 1  # Riley and the companions of other at-home courses
    for companion in companions:
        membership = Membership.objects.get(organisation=practice, user=companion.user)
        assert membership.is_active and membership.has_role("companion"), companion.user.email


def test_a_demo_loaded_on_an_earlier_day_is_rebuilt_for_today(
    transactional_db, time_machine, settings
):
    settings.KAPFLOW_BASE_URL = "http://127.0.0.1:8102"
    # 09:00 in Portland (the practice's zone), Monday 3 March 2025.
    time_machine.move_to(datetime(2025, 3, 3, 17, 0, tzinfo=UTC))
    out = _demo()
    assert "Sign in at http://127.0.0.1:8102/ with password kapflow-demo" in out
    assert "Rebuilding" not in out
    practice = Organisation.objects.get(slug="harbor-light")
    _portal_accounts_have_memberships(practice)
    self_logging = Client.objects.for_org(practice).filter(user__isnull=False)
    assert self_logging.exclude(user__email="client@harborlight.example").exists()
    loaded = {m.__name__: m.objects.count() for m in (Client, Companion, Course)}

    # Later the same day: nothing rebuilt, nothing added.
    time_machine.move_to(datetime(2025, 3, 4, 6, 0, tzinfo=UTC))  # 22:00 in Portland
    assert "Rebuilding" not in _demo()
    assert Organisation.objects.get(slug="harbor-light").pk == practice.pk

    # Three days on: rebuilt, so "today" in the demo is today again.
    now = datetime(2025, 3, 6, 17, 0, tzinfo=UTC)
    time_machine.move_to(now)
    out = _demo()
    assert "Rebuilding the demo (it was loaded on 2025-03-03)." in out
    practice = Organisation.objects.get(slug="harbor-light")
    assert practice.created_at >= now
    assert {m.__name__: m.objects.count() for m in (Client, Companion, Course)} == loaded
    latest = CourseEvent.objects.latest("occurred_at").occurred_at
    assert now - timedelta(days=1) < latest <= clock.now()
    _portal_accounts_have_memberships(practice)

    # A database that holds another organisation is never emptied.
    other = OrganisationFactory(name="Another practice")
    time_machine.move_to(now + timedelta(days=1))
    out = _demo()
    assert "Not rebuilding the demo" in out
    assert Organisation.objects.filter(pk=other.pk).exists()
