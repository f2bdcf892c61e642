"""Outcome test data: submitted responses created directly (the scoring and safety paths are
tested in tests/assessments), with the band the instrument gives their total. Each score
refreshes the client's stored outcome summaries, as the assessment services do; a test that
changes a course by hand calls `summarise(client)` itself, as course_open would."""

import datetime

from django.db import transaction
from django.utils import timezone

from kapflow.assessments.models import Response
from kapflow.clinical import instruments
from kapflow.outcomes.services import outcome_summary_refresh
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team

START = datetime.datetime(2025, 1, 6, 9, 0, tzinfo=datetime.UTC)


def score(client, total, *, at=None, instrument="phq9", course=None, corrects=None,
          submitted=True, flags=()) -> Response:  # fmt: skip
    """A response with `total`; `at` is its submission time (a draft when not submitted)."""
    inst = instruments.get(instrument)
    band = inst.band_for(total)
    at = at or timezone.now()
    response = Response.objects.create(
        organisation=client.organisation, client=client, course=course,
        instrument=instrument, total=total if submitted else None,
        band=band.label if submitted else "", severity=band.severity if submitted else None,
        source="staff", started_at=at, submitted_at=at if submitted else None,
        corrects=corrects, correction_reason="Keyed from the wrong row." if corrects else "",
        safety_flags=[{"code": code, "message": "A safety rule fired.", "level": "moderate"}
                      for code in flags],
    )  # fmt: skip
    summarise(client)
    return response


def summarise(client) -> None:
    """Refresh the client's stored outcome summaries (outcomes.services)."""
    with transaction.atomic():
        outcome_summary_refresh(client_id=client.pk)


def history(client, totals, *, start=START, every_days=7, instrument="phq9", course=None):
    """One score per `every_days` from `start`, in the given order."""
    return [
        score(
            client,
            total,
            at=start + datetime.timedelta(days=every_days * i),
            instrument=instrument,
            course=course,
        )
        for i, total in enumerate(totals)
    ]


def treated_client(world, totals, *, therapist=None, opened=None, **course_fields):
    """A client of practice A on `therapist`'s care team (default world.therapist), with one
    course (fields as given) and a PHQ-9 history of `totals`."""
    therapist = therapist or world.therapist
    client = ClientFactory(organisation=world.practice)
    on_team(client, therapist)
    course = make_course(client, therapist, **course_fields)
    if opened is not None:
        course.opened_at = opened
        course.save(update_fields=["opened_at"])
    history(client, totals, course=course)
    return client
