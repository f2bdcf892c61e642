"""Care-team grants are read through kapflow.patients.grants and written through
patients.services (care_team_grant, care_team_end) only (issue 20): a module elsewhere that
queries or builds CareTeamMember rows itself fails this test."""

import re
from pathlib import Path

import pytest

import kapflow
from kapflow.patients import grants

SRC = Path(kapflow.__file__).parent
# The app that owns the table, and the demo builder (it writes its rows by hand; later work).
OWNERS = ("patients/", "demo/")
DIRECT = re.compile(r"CareTeamMember\.objects|CareTeamMember\(|_default_manager")


def _offenders() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(OWNERS) or "/migrations/" in relative:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "CareTeamMember" in line and DIRECT.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_module_outside_patients_queries_care_team_rows():
    assert _offenders() == []


def test_the_scan_finds_a_direct_query(tmp_path):
    """The check itself can fail: a module with a direct query is reported."""
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "x.py").write_text(
        "rows = CareTeamMember.objects.filter(ended_at__isnull=True)\n"
    )
    (tmp_path / "patients").mkdir()
    (tmp_path / "patients" / "y.py").write_text("CareTeamMember.objects.all()\n")
    saved = SRC
    globals()["SRC"] = tmp_path
    try:
        assert _offenders() == [
            "billing/x.py:1: rows = CareTeamMember.objects.filter(ended_at__isnull=True)"
        ]
    finally:
        globals()["SRC"] = saved


@pytest.mark.django_db
def test_open_grants_are_the_rows_that_give_access(world):
    """The helpers read open grants only: an ended grant gives nothing."""
    from kapflow.core import clock
    from kapflow.patients.models import CareTeamMember

    member = CareTeamMember.objects.get(
        client=world.client, membership=world.therapist, ended_at__isnull=True
    )
    assert grants.on_care_team(world.therapist.pk, world.client.pk)
    assert world.client.pk in grants.clients_on_team(world.therapist.pk, [world.client.pk])
    assert world.therapist.user.email in grants.team_emails(world.client.pk)
    member.ended_at = clock.now()
    member.save(update_fields=["ended_at"])
    assert not grants.on_care_team(world.therapist.pk, world.client.pk)
    assert grants.clients_on_team(world.therapist.pk, [world.client.pk]) == set()
    assert world.therapist.user.email not in grants.team_emails(world.client.pk)
    assert grants.every_grant().filter(pk=member.pk).exists()
