"""One clock (decision 0027): a clinical date is the practice's day, whoever acts and through
whichever door (page, API), and application code never reads a UTC date."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from kapflow.accounts import services as account_services
from kapflow.accounts.models import Organisation
from kapflow.clinical import course as rules
from kapflow.core import clock
from kapflow.notes.models import Note
from tests.conftest import sign_in

# 19:30 in Portland on 6 December is 03:30 UTC on 7 December.
EVENING_PACIFIC = dt.datetime(2026, 12, 7, 3, 30, tzinfo=dt.UTC)
PACIFIC_DAY = dt.date(2026, 12, 6)


def test_a_clinical_date_is_read_in_the_practices_zone():
    oregon = Organisation(state="OR")
    new_york = Organisation(state="NY")
    assert clock.clinical_date(oregon, EVENING_PACIFIC) == PACIFIC_DAY
    assert clock.clinical_date(new_york, EVENING_PACIFIC) == dt.date(2026, 12, 6)
    # The practice's own zone wins over its state's.
    assert clock.clinical_date(Organisation(state="OR", time_zone="UTC"), EVENING_PACIFIC) == (
        dt.date(2026, 12, 7)
    )
    # 09:00 UTC: New York has moved to the 7th, Oregon has not.
    morning = dt.datetime(2026, 12, 7, 6, 30, tzinfo=dt.UTC)
    assert clock.clinical_date(new_york, morning) == dt.date(2026, 12, 7)
    assert clock.clinical_date(oregon, morning) == PACIFIC_DAY


def test_the_gate_reads_clearance_expiry_in_the_practices_zone():
    """A clearance that runs to 6 December still holds at 19:30 Pacific that day, although
    the UTC date is already the 7th."""
    facts = rules.CourseFacts(
        stage=rules.Stage.ACTIVE,
        eligibility="eligible",
        clearance_on=PACIFIC_DAY - dt.timedelta(days=90),
        clearance_valid_days=90,
        clinical_zone="America/Los_Angeles",
    )
    codes = {r.code for r in rules.dosing_reasons(facts, now=EVENING_PACIFIC)}
    assert "clearance.expired" not in codes
    later = EVENING_PACIFIC + dt.timedelta(hours=6)  # 01:30 Pacific on the 7th
    assert "clearance.expired" in {r.code for r in rules.dosing_reasons(facts, now=later)}


@pytest.fixture
def evening_world(db, request, time_machine):
    """The demo world made at 19:30 Pacific on 6 December, so its records began that day
    whatever the real date of the run."""
    time_machine.move_to(EVENING_PACIFIC - dt.timedelta(minutes=30), tick=False)
    world = request.getfixturevalue("world")
    time_machine.move_to(EVENING_PACIFIC, tick=False)
    return world


@pytest.mark.parametrize("door", ["page", "api"])
def test_the_page_and_the_api_date_a_note_alike_at_1930_pacific(client, evening_world, door):
    world = evening_world
    if door == "page":
        sign_in(client, world.therapist.user)
        response = client.post(
            "/notes/new/",
            {"client": world.client.pk, "session_type": "integration", "format": "dap",
             "kind": "progress"},
        )  # fmt: skip
        assert response.status_code == 302, response.content
    else:
        _, raw = account_services.api_token_create(
            actor=world.therapist, name="clock", mfa_verified=True
        )
        response = client.post(
            "/api/v1/notes",
            data=json.dumps({"client_id": world.client.pk, "session_type": "integration"}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        assert response.status_code == 201, response.content
        assert response.json()["session_date"] == PACIFIC_DAY.isoformat()
    assert Note.objects.get(client=world.client).session_date == PACIFIC_DAY


def test_api_calls_run_in_the_token_owners_zone(client, world, monkeypatch):
    """Times the API renders for people (and any date it derives for display) use the token
    owner's zone, as pages use the viewer's."""
    from django.utils import timezone

    from kapflow import api as api_module

    seen = {}
    original = api_module.TokenAuth.authenticate

    def spy(self, request, token):
        result = original(self, request, token)
        seen["zone"] = str(timezone.get_current_timezone())
        return result

    monkeypatch.setattr(api_module.TokenAuth, "authenticate", spy)
    _, raw = account_services.api_token_create(
        actor=world.therapist, name="clock", mfa_verified=True
    )
    response = client.get("/api/v1/notes/templates", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert seen["zone"] == "America/Los_Angeles"


SRC = Path(__file__).resolve().parents[2] / "src" / "kapflow"
# A UTC date, or a date in whatever zone happens to be active, read in application code.
FORBIDDEN = re.compile(
    r"date\.today\(|datetime\.now\(|datetime\.utcnow\(|\.now\(\)\.date\(\)|\bnow\.date\(\)"
)


# `.date()` of a stored instant is its UTC date: allowed only on a line that first converts
# it to a zone, or marked "# local datetimes" where the conversion is just above.
CONVERTED = re.compile(r"astimezone\(|localtime\(|strptime\(")


def test_application_code_never_reads_a_utc_date():
    found = []
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts or path.name == "clock.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            bare_date = ".date()" in code and not CONVERTED.search(code)
            if FORBIDDEN.search(code) or (bare_date and "# local datetimes" not in line):
                found.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not found, "Use kapflow.core.clock:\n" + "\n".join(found)
