"""Records for tests/core/test_copy_to_postgres.py, written into the database the process was
started with (`kapflow shell -c "from tests.core.copy_source import fill; fill()"`), through
the services, so they come with their audit rows and outcome summaries."""

from django.db import transaction

PHQ9 = {f"phq9_{i}": 2 for i in range(1, 9)} | {"phq9_9": 0}


@transaction.atomic
def fill() -> None:
    from kapflow.accounts.models import Role
    from kapflow.assessments import services as assessments
    from kapflow.courses import services as courses
    from tests.accounts.factories import OrganisationFactory, member, totp_device
    from tests.patients.factories import ClientFactory, on_team

    practice = OrganisationFactory(name="Copy Practice", state="OR")
    member(practice, Role.PRACTICE_ADMIN)
    therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    totp_device(therapist.user)  # an encrypted seed
    for n in range(3):
        client = ClientFactory(organisation=practice)
        on_team(client, therapist)
        courses.course_open(
            actor=therapist, client_id=client.pk, pathway="low_dose", delivery="at_home"
        )
        first = assessments.response_enter(
            actor=therapist, client_id=client.pk, instrument="phq9", answers=PHQ9
        )
        assessments.response_enter(
            actor=therapist, client_id=client.pk, instrument="cadss", total=10 + n
        )
        assessments.response_correct(
            actor=therapist, response_id=first.pk, reason="Wrong row.",
            answers=PHQ9 | {"phq9_1": 3},
        )  # fmt: skip
