"""The demo's notifications: the demo writes its history directly (kapflow.demo), not
through the services that notify, so this replays the last days' events through
`notifications.services.notify` as those services would have: consents signed, questionnaires
answered, messages, referrals waiting, decisions and open alerts. Older than two days: read."""

from datetime import timedelta

from kapflow.core import clock

RECENT = timedelta(days=7)
READ_BEFORE = timedelta(days=2)
PER_KIND = 8


def load_demo_notifications(*, practice) -> int:
    from kapflow.accounts.models import Membership
    from kapflow.alerts.models import Alert
    from kapflow.assessments.models import Response
    from kapflow.consents.models import ConsentSignature
    from kapflow.messaging.models import Message, ThreadParticipant
    from kapflow.notifications.models import Notification
    from kapflow.notifications.services import notify
    from kapflow.patients.selectors import care_team_memberships
    from kapflow.prescriptions.models import EligibilityDecision, Referral

    if Notification.objects.filter(organisation=practice).exists():
        return 0
    now = clock.now()
    since = now - RECENT
    made: list = []  # the notifications this seeding wrote, and only those

    def team(row, kind, route, at, by_user_id=None):
        return notify(
            recipients=care_team_memberships(client_id=row.client_id), kind=kind, route=route,
            object_id=row.pk, exclude_user_id=by_user_id, at=at,
        )  # fmt: skip

    for s in (
        ConsentSignature.objects.for_org(practice)
        .filter(signed_at__gte=since)
        .order_by("-signed_at")[:PER_KIND]
    ):
        made.extend(team(s, "consent_signed", "consents:signature", s.signed_at, s.signed_by_id))
    for r in (
        Response.objects.for_org(practice)
        .filter(submitted_at__gte=since)
        .order_by("-submitted_at")[:PER_KIND]
    ):
        made.extend(team(r, "questionnaire_answered", "assessments:response", r.submitted_at))
    for a in Alert.objects.for_org(practice).filter(acknowledged_at__isnull=True)[:PER_KIND]:
        made.extend(team(a, "alert_raised", "alerts:detail", a.raised_at, a.raised_by_id))
    for m in (
        Message.objects.for_org(practice)
        .filter(created_at__gte=since)
        .order_by("-created_at")[: PER_KIND * 2]
    ):
        made.extend(
            notify(
                recipients=Membership.objects.filter(
                    pk__in=ThreadParticipant.objects.filter(thread_id=m.thread_id).values(
                        "membership_id"
                    )
                ),
                kind="message_received",
                route="messaging:thread",
                object_id=m.thread_id,
                exclude_user_id=m.author_id,
                at=m.created_at,
            )
        )
    for r in Referral.objects.filter(organisation=practice, status="sent").order_by("-sent_at")[
        :PER_KIND
    ]:
        made.extend(
            notify(
                recipients=[r.prescriber],
                kind="referral_received",
                route="prescriptions:referral",
                object_id=r.pk,
                at=r.sent_at,
            )
        )
    for d in (
        EligibilityDecision.objects.filter(organisation=practice, decided_at__gte=since)
        .select_related("course")
        .order_by("-decided_at")[:PER_KIND]
    ):
        made.extend(
            notify(
                recipients=Membership.objects.filter(pk=d.course.therapist_id),
                kind="evaluation_decided",
                route="courses:detail",
                object_id=d.course_id,
                at=d.decided_at,
            )
        )
    Notification.objects.filter(
        pk__in=[n.pk for n in made], created_at__lt=now - READ_BEFORE, read_at__isnull=True
    ).update(read_at=now)
    return len(made)
