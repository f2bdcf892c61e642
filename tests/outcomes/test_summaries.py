"""The stored outcome summaries (decision 0043): the write paths keep them equal to what the
rows say after each kind of change, the practice report read from them gives exactly the
numbers it computed from every response before (tests/outcomes/oracle.py), `kapflow
refresh_outcomes` finds and repairs a difference, and the backfill migration agrees."""

import datetime
import importlib
import io
import random
import re
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kapflow.assessments import services as assessments
from kapflow.assessments.models import Source
from kapflow.clinical import instruments
from kapflow.courses import services as courses
from kapflow.courses.models import Course
from kapflow.outcomes import selectors
from kapflow.outcomes.models import OutcomeSummary
from kapflow.outcomes.services import outcome_summaries_rebuild, outcome_summary_refresh
from tests.outcomes import oracle
from tests.outcomes.factories import START, score, summarise
from tests.patients.factories import ClientFactory, on_team

PHQ9_16 = {f"phq9_{i}": 2 for i in range(1, 9)} | {"phq9_9": 0}
PHQ9_8 = {f"phq9_{i}": 1 for i in range(1, 9)} | {"phq9_9": 0}
PHQ9_20 = {f"phq9_{i}": 3 if i <= 4 else 2 for i in range(1, 9)} | {"phq9_9": 0}
PHQ9_4 = {f"phq9_{i}": 1 if i <= 4 else 0 for i in range(1, 9)} | {"phq9_9": 0}


def _drift(world):
    return selectors.outcome_summaries_drift(organisation_id=world.practice.pk)


def _phq9(world):
    row = OutcomeSummary.objects.get(client=world.client, instrument="phq9")
    return (row.scores, row.baseline_total, row.latest_total, row.change, row.response,
            row.remission, row.pathway, row.therapist_id)  # fmt: skip


def test_each_write_path_keeps_the_stored_summary_exact(
    world, client, django_capture_on_commit_callbacks
):
    course = courses.course_open(
        actor=world.therapist, client_id=world.client.pk, pathway="low_dose", delivery="at_home"
    )
    assert not OutcomeSummary.objects.exists() and not _drift(world)

    # Staff enter a score: one score, nothing to compare yet.
    first = assessments.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9", answers=PHQ9_16
    )
    assert _phq9(world) == (1, 16, 16, None, None, None, "low_dose", world.therapist.pk)
    assert not _drift(world)

    # The client submits one in the portal: 16 to 8 is exactly a 50 % drop, a response.
    assignment = assessments.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    assessments.response_save(
        assignment_id=assignment.pk, answers=PHQ9_8, submit=True, source=Source.PORTAL,
        actor=world.client_member,
    )  # fmt: skip
    assert _phq9(world) == (2, 16, 8, -8, True, False, "low_dose", world.therapist.pk)
    assert not _drift(world)

    # A draft changes nothing.
    draft_for = assessments.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    assessments.response_save(
        assignment_id=draft_for.pk, answers={"phq9_1": 3}, submit=False, source=Source.PORTAL,
        actor=world.client_member,
    )  # fmt: skip
    assert _phq9(world)[:3] == (2, 16, 8) and not _drift(world)

    # The first score is corrected to 20: the baseline is the correction's.
    assessments.response_correct(
        actor=world.therapist, response_id=first.pk, reason="Keyed from the wrong row.",
        answers=PHQ9_20,
    )  # fmt: skip
    assert _phq9(world) == (2, 20, 8, -12, True, False, "low_dose", world.therapist.pk)
    assert not _drift(world)

    # A one-time link, answered without signing in: 4 is a remission.
    by_link = assessments.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assessments.link_send(actor=world.therapist, assignment_id=by_link.pk)
    url = next(line for line in mail.outbox[-1].body.splitlines() if "/q/" in line)
    data = {k: str(v) for k, v in PHQ9_4.items()} | {"submit": "1"}
    assert client.post(url.split("8000", 1)[-1].strip(), data).status_code == 200
    assert _phq9(world) == (3, 20, 4, -16, True, True, "low_dose", world.therapist.pk)
    assert not _drift(world)

    # The course ends and another opens, on the other pathway with another therapist (the
    # client moves): the client's group follows the most recent course.
    courses.course_transition(
        actor=world.therapist, course_id=course.pk, action="withdraw", reason="Moved away."
    )
    courses.course_open(
        actor=world.admin, client_id=world.client.pk, pathway="higher_dose",
        delivery="in_person", therapist_id=world.therapist2.pk,
    )  # fmt: skip
    assert _phq9(world) == (3, 20, 4, -16, True, True, "higher_dose", world.therapist2.pk)
    assert not _drift(world)

    # A second instrument is a second row.
    assessments.response_enter(actor=world.therapist, client_id=world.client.pk,
                               instrument="cadss", total=12)  # fmt: skip
    assert OutcomeSummary.objects.filter(client=world.client).count() == 2
    assert not _drift(world)


def test_the_refresh_locks_the_client_and_costs_the_same_for_1_and_30_scores(world):
    score(world.client, 10)
    with CaptureQueriesContext(connection) as one, transaction.atomic():
        outcome_summary_refresh(client_id=world.client.pk)
    for day in range(29):
        score(world.client, 12, at=START + datetime.timedelta(days=day))
    with CaptureQueriesContext(connection) as thirty, transaction.atomic():
        outcome_summary_refresh(client_id=world.client.pk)
    assert len(one.captured_queries) == len(thirty.captured_queries)
    if connection.vendor == "postgresql":
        # Two submissions at once: the second waits for the first, then sees its response.
        assert "FOR UPDATE" in next(q["sql"] for q in one.captured_queries if "SELECT" in q["sql"])


def _varied_practice(world, seed: int) -> None:
    """Clients with none, one or two courses (opened in either order of id and time), 0 to 5
    scores of each practice instrument (some corrected, some at the same instant, some 0),
    drafts, and another practice's clients; summarised as the write paths would."""
    rng = random.Random(seed)
    therapists = [world.therapist, world.therapist2]
    for org, count in ((world.practice, 80), (world.other, 15)):
        for _ in range(count):
            client = ClientFactory(organisation=org)
            for therapist in {rng.choice(therapists) for _ in range(2)}:
                on_team(client, therapist)
            for n in range(rng.choice([0, 1, 1, 1, 2])):
                Course.objects.create(
                    organisation=org, client=client, therapist=rng.choice(therapists),
                    pathway=rng.choice(["higher_dose", "low_dose"]),
                    delivery=rng.choice(["in_person", "at_home"]),
                    condition=rng.choice(["depression", "anxiety", "ptsd", "other"]),
                    opened_at=START - datetime.timedelta(days=rng.choice([300, 200, 200])),
                    closed_at=None if n else START - datetime.timedelta(days=100),
                )  # fmt: skip
            for code in selectors.PRACTICE_INSTRUMENTS:
                inst = instruments.get(code)
                at = START
                for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
                    if rng.random() > 0.15:  # else: the same instant as the one before
                        at += datetime.timedelta(days=rng.randint(1, 20))
                    total = rng.choice([0, inst.max_total, rng.randint(0, inst.max_total)])
                    made = score(client, total, at=at, instrument=code)
                    if rng.random() < 0.15:
                        score(client, rng.randint(0, inst.max_total), at=at, instrument=code,
                              corrects=made)  # fmt: skip
                if rng.random() < 0.2:
                    score(client, 3, instrument=code, submitted=False)
            summarise(client)  # the courses were made by hand, not by course_open


def _sums(groups):
    return sorted(groups, key=lambda s: str(s.key))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_report_gives_the_numbers_it_computed_from_every_response(world, seed):
    _varied_practice(world, seed)
    assert not _drift(world)
    for org in (world.practice, world.other):
        for code in selectors.PRACTICE_INSTRUMENTS:
            inst = instruments.get(code)
            for group_by in selectors.GROUPINGS:
                stored = selectors.practice_sums(
                    organisation_id=org.pk, instrument=inst, group_by=group_by
                )
                recomputed = oracle.recomputed_sums(
                    organisation_id=org.pk, instrument=inst, group_by=group_by
                )
                assert _sums(stored) == _sums(recomputed), (code, group_by)
    # And the report built from them: the same rows as from the old sums.
    report = selectors.practice_outcomes(actor=world.admin, instrument="phq9", group_by="pathway")
    old = oracle.recomputed_sums(
        organisation_id=world.practice.pk, instrument=instruments.PHQ9, group_by="pathway"
    )
    assert report.rows == selectors.build_rows(instruments.PHQ9, "pathway", old)


def test_refresh_outcomes_finds_and_repairs_a_change_no_write_path_made(world):
    _varied_practice(world, 3)
    changed = OutcomeSummary.objects.filter(organisation=world.practice, scores__gte=2).first()
    Course.objects.filter(client_id=changed.client_id).update(pathway="experimental")
    lost = OutcomeSummary.objects.filter(organisation=world.practice).exclude(
        client_id=changed.client_id
    )
    lost.filter(pk=lost.first().pk).delete()
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("refresh_outcomes", "--check", stdout=out)
    assert exit_.value.code == 1
    text = out.getvalue()
    assert f"client {changed.client_id} {changed.instrument}: pathway" in text
    assert "missing" in text
    # Ids and field names only: no score, band or name is printed. Every line is "client <id>
    # <instrument>: <fields>" or the count; with the ids, instrument codes and count taken
    # out, no number is left (an id such as 5178 may contain a score's digits).
    lines = text.strip().splitlines()
    assert re.fullmatch(r"\d+ summar(y|ies) differed from their rows", lines[-1])
    for line in lines[:-1]:
        assert re.fullmatch(r"client \d+ [a-z0-9_]+: [a-z_, ]+", line), line
    fields = [line.split(": ", 1)[1] for line in lines[:-1]]
    assert not any(char.isdigit() for char in "".join(fields))
    assert _drift(world)
    call_command("refresh_outcomes", stdout=io.StringIO())
    assert not _drift(world)
    call_command("refresh_outcomes", "--check", stdout=io.StringIO())  # exits 0
    changed.refresh_from_db()
    assert changed.pathway == "experimental"


def test_a_whole_practice_is_rebuilt_in_steps(world, monkeypatch):
    _varied_practice(world, 4)
    before = sorted(OutcomeSummary.objects.values_list("client_id", "instrument", "scores"))
    OutcomeSummary.objects.all().delete()
    monkeypatch.setattr(selectors, "BATCH", 7)
    monkeypatch.setattr("kapflow.outcomes.services.BATCH", 7)
    assert outcome_summaries_rebuild() == len(before)
    assert sorted(OutcomeSummary.objects.values_list("client_id", "instrument", "scores")) == before
    assert not selectors.outcome_summaries_drift(organisation_id=world.other.pk)


def test_the_backfill_migration_gives_the_same_rows(world):
    _varied_practice(world, 5)
    expected = sorted(
        OutcomeSummary.objects.values_list("client_id", "instrument", "scores", "change")
    )
    OutcomeSummary.objects.all().delete()
    migration = importlib.import_module("kapflow.outcomes.migrations.0002_outcomesummary_backfill")
    with connection.cursor() as cursor:
        editor = SimpleNamespace(connection=connection, execute=cursor.execute)
        migration.backfill(apps, editor)
    assert not _drift(world)
    assert (
        sorted(OutcomeSummary.objects.values_list("client_id", "instrument", "scores", "change"))
        == expected
    )
