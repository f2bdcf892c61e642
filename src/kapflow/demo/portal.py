"""The demo's portal records: Jordan's journal, message threads, reaction and
need-help-now alerts, and companion check-ins.
"""

from datetime import timedelta

from django.utils import timezone

# ---- journal, messages, alerts and companion check-ins --------------------------------------

JORDAN_JOURNAL = [
    # (kind, shared, hours from the latest dosing session, text)
    ("intention", True, -20,
     "Tomorrow I want to go in with curiosity rather than a goal. If the heaviness shows up I "
     "will try to stay with it for a breath or two before I reach for the eye mask."),
    ("integration", True, 22,
     "Still a bit foggy this morning. What stayed with me was the picture of the harbour at "
     "dusk, and the sense that the tiredness is not all of me. I'd like to talk about that."),
    ("reflection", False, 40,
     "Walked to the bakery without checking my phone once. Small, but it felt like mine."),
]  # fmt: skip
OTHER_JOURNAL = [
    "Calmer than I expected afterwards. I noticed how much I brace my shoulders at work; "
    "I want to practise letting them drop.",
    "Hard in the middle, then a long stretch of quiet. I keep coming back to the word "
    "'enough'. Slept well for the first time in a week.",
    "Mostly colours and music this time. Less insight than last session, but I felt kinder "
    "towards myself on the drive home.",
]
CARE_MESSAGES = [
    # (a reply from the other side?, minutes after the first message, text)
    (False, 0,
     "Hi Avery, is there anything I should do differently to prepare for my next session? "
     "Last time I felt a bit queasy at the start."),
    (True, 95,
     "Thanks for letting me know, Jordan. Keep to a light meal at least four hours before, and "
     "we can talk about the nausea with Dr. Whitfield before the session."),
    (True, 110,
     "Also: bring your journal if you like. We can look at your intention together first."),
]  # fmt: skip
PARTNER_MESSAGES = [
    (False, 0,
     "Dr. Whitfield, after the second session the client reported strong dissociation that "
     "lasted about an hour. Would you consider keeping the next dose the same rather than "
     "stepping it up?"),
    (True, 180,
     "Agreed, let's hold the current dose for the next session and review after it. I'll note "
     "it on the prescription record; please send me the post-session vitals."),
]  # fmt: skip


def load_portal_records(*, practice, own, companion, therapist, prescriber) -> dict:
    """What the client, companion and clinicians wrote in the portal: journal entries,
    secure messages, alerts and companion check-ins. Each block is skipped when its records
    exist already, so loading twice adds nothing. Returns the counts made."""
    from kapflow.courses.models import Course, CourseEvent

    now = timezone.now()
    course = (
        Course.objects.for_org(practice)
        .filter(client=own, closed_at__isnull=True)
        .order_by("-opened_at")
        .first()
    )
    dosing = (
        CourseEvent.objects.filter(course=course, kind="dosing").order_by("-occurred_at").first()
        if course
        else None
    )
    if course is None or dosing is None:
        return {}
    return {
        "journal_entries": _load_journal(
            practice=practice, own=own, course=course, dosing=dosing, now=now
        ),
        **_load_threads(
            practice=practice, own=own, therapist=therapist, prescriber=prescriber, now=now
        ),
        "alerts": _load_alerts(
            practice=practice, own=own, course=course, dosing=dosing, companion=companion,
            therapist=therapist, now=now,
        ),
        "companion_checkins": _load_checkins(
            practice=practice, own=own, course=course, dosing=dosing, companion=companion
        ),
    }  # fmt: skip


def _load_journal(*, practice, own, course, dosing, now) -> int:
    """Jordan's intention, integration and private reflection around the latest dosing
    session; one shared integration entry on three other active courses."""
    from kapflow.courses.models import Course, CourseEvent
    from kapflow.journal.models import JournalEntry

    written = set(JournalEntry.objects.for_org(practice).values_list("client_id", flat=True))
    entries = []

    def entry(client, course, kind, shared, at, body, event):
        at = min(at, now - timedelta(hours=1))
        entries.append(
            JournalEntry(
                organisation=practice, client=client, course=course, kind=kind,
                dosing_event=event if kind != "reflection" else None, body=body, shared=shared,
                created_at=at, updated_at=at, shared_at=at if shared else None,
            )
        )  # fmt: skip

    if own.pk not in written:
        for kind, shared, hours, body in JORDAN_JOURNAL:
            at = dosing.occurred_at + timedelta(hours=hours)
            entry(own, course, kind, shared, at, body, dosing)
    others = (
        Course.objects.for_org(practice)
        .filter(stage="active", events__kind="dosing")
        .exclude(client=own)
        .distinct()
        .select_related("client")
        .order_by("pk")[: len(OTHER_JOURNAL)]
    )
    for other, body in zip(others, OTHER_JOURNAL, strict=False):
        if other.client_id in written:
            continue
        latest = (
            CourseEvent.objects.filter(course=other, kind="dosing").order_by("-occurred_at").first()
        )
        entry(
            other.client, other, "integration", True,
            latest.occurred_at + timedelta(hours=26), body, latest,
        )  # fmt: skip
    for row in entries:
        row.full_clean()
    JournalEntry.objects.bulk_create(entries)
    return len(entries)


def _thread(*, practice, client, kind, subject, starter, messages, reader, now) -> int:
    """A thread as kapflow.messaging.services.thread_start makes it (the participants are the
    candidates it picks, without the admins, plus the starter), its messages, and a receipt
    for the first message by `reader` (who read it before replying). Messages are (from the
    replier?, minutes after the first, body); the first is `starter`'s."""
    from kapflow import policy
    from kapflow.messaging.models import Message, MessageReceipt, Thread, ThreadParticipant

    first = now - timedelta(days=1, hours=3)
    times = [first + timedelta(minutes=m) for _r, m, _b in messages]
    thread = Thread(
        organisation=practice, client=client, kind=kind, subject=subject,
        created_by_id=starter.user_id, created_at=first, last_message_at=times[-1],
    )  # fmt: skip
    thread.full_clean()
    thread.save()
    members = {
        m.user_id: m for m in policy.thread_candidates_queryset(thread, include_admins=False)
    }
    members[starter.user_id] = starter
    authors = [reader if replied else starter for replied, _m, _b in messages]
    last_read = {a.user_id: t for a, t in zip(authors, times, strict=True)}  # their own last
    ThreadParticipant.objects.bulk_create(
        [
            ThreadParticipant(
                organisation=practice, thread=thread, user_id=user_id, membership=membership,
                joined_at=first, added_by_id=starter.user_id, last_read_at=last_read.get(user_id),
            )
            for user_id, membership in sorted(members.items())
        ]
    )  # fmt: skip
    rows = [
        Message(organisation=practice, thread=thread, author_id=a.user_id, body=body, created_at=t)
        for a, t, (_r, _m, body) in zip(authors, times, messages, strict=True)
    ]
    for row in rows:
        row.full_clean()
    Message.objects.bulk_create(rows)
    opened = next(t for t, (replied, _m, _b) in zip(times, messages, strict=True) if replied)
    MessageReceipt.objects.create(
        organisation=practice, message=rows[0], user_id=reader.user_id,
        read_at=opened - timedelta(minutes=5),
    )  # fmt: skip
    return len(rows)


def _load_threads(*, practice, own, therapist, prescriber, now) -> dict:
    """Jordan's care thread with the care team, and a partner thread between therapist@ and
    the prescriber about one other referred client of therapist@."""
    from kapflow.accounts.models import Membership
    from kapflow.messaging.models import Thread
    from kapflow.patients.models import CareTeamMember, Client

    threads = Thread.objects.for_org(practice)
    made = {"message_threads": 0, "messages": 0}
    if not threads.filter(client=own, kind="care").exists():
        (jordan,) = Membership.objects.filter(
            organisation=practice, user_id=own.user_id, roles__role="client"
        )
        made["messages"] += _thread(
            practice=practice, client=own, kind="care", subject="Preparing for my next session",
            starter=jordan, messages=CARE_MESSAGES, reader=therapist, now=now,
        )  # fmt: skip
        made["message_threads"] += 1
    if not threads.filter(kind="partner").exists():
        on_team = CareTeamMember.objects.filter(ended_at__isnull=True)
        client = (
            Client.objects.for_org(practice)
            .exclude(pk=own.pk)
            .filter(
                pk__in=on_team.filter(membership=therapist).values("client_id"),
                courses__stage="active",
            )
            .filter(pk__in=on_team.filter(membership=prescriber).values("client_id"))
            .order_by("pk")
            .first()
        )
        if client is not None:
            made["messages"] += _thread(
                practice=practice, client=client, kind="partner",
                subject="Dose question before the next session", starter=therapist,
                messages=PARTNER_MESSAGES, reader=prescriber, now=now,
            )  # fmt: skip
            made["message_threads"] += 1
    return made


def _load_alerts(*, practice, own, course, dosing, companion, therapist, now) -> int:
    """An open routine reaction report from the client of an active at-home course (Jordan's
    when that client has no portal account), and the companion's acknowledged "need help now"
    during Jordan's latest dosing session."""
    from kapflow.alerts.models import Alert
    from kapflow.clinical import reactions
    from kapflow.courses.models import Course

    alerts = Alert.objects.for_org(practice)
    rows = []
    if not alerts.filter(kind="reaction").exists():
        home = (
            Course.objects.for_org(practice)
            .filter(stage="active", delivery="at_home", client__user__isnull=False)
            .exclude(client=own)
            .select_related("client")
            .distinct()
            .order_by("pk")
            .first()
        )
        if home is None:  # no other at-home client has a portal account
            home = course
        answers = reactions.ReactionAnswers(symptoms=frozenset({"nausea", "dizziness"}))
        triage = reactions.reaction_triage(answers)
        rows.append(
            Alert(
                organisation=practice, client=home.client, course=home, kind="reaction",
                raised_by_id=home.client.user_id, raised_by_role="client",
                raised_at=now - timedelta(hours=3),
                answers={"symptoms": [s.code for s in reactions.SYMPTOMS
                                      if s.code in answers.symptoms],
                         "bp_systolic": None, "bp_diastolic": None},
                note="Felt sick and a bit unsteady after this morning's dose. Lying down now.",
                severity=triage.severity.value, reasons=triage.codes,
            )
        )  # fmt: skip
    if not alerts.filter(client=own, kind="help_now").exists():
        triage = reactions.help_now_triage()
        raised = dosing.occurred_at + timedelta(minutes=80)
        rows.append(
            Alert(
                organisation=practice, client=own, course=course, kind="help_now",
                raised_by_id=companion.user_id, raised_by_role="companion", raised_at=raised,
                severity=triage.severity.value, reasons=triage.codes,
                acknowledged_by=therapist, acknowledged_at=raised + timedelta(minutes=6),
                acknowledgement_note="Phoned Riley at once. Jordan was restless but responsive "
                "and breathing normally, BP 138/86. Talked them through it; settled within "
                "15 minutes. Will review at integration.",
            )
        )  # fmt: skip
    for row in rows:
        row.full_clean()
    Alert.objects.bulk_create(rows)
    return len(rows)


def _load_checkins(*, practice, own, course, dosing, companion) -> int:
    """Riley's two check-ins during Jordan's latest dosing session."""
    from kapflow.patients.models import CompanionCheckin

    if CompanionCheckin.objects.for_org(practice).filter(client=own).exists():
        return 0
    start = dosing.occurred_at
    rows = [
        CompanionCheckin(
            organisation=practice, companion=companion, client=own, course=course,
            recorded_at=start + timedelta(minutes=30), state="settled",
            note="Resting with the eye mask on, music playing.",
        ),
        CompanionCheckin(
            organisation=practice, companion=companion, client=own, course=course,
            recorded_at=start + timedelta(minutes=75), state="restless", bp_systolic=138,
            bp_diastolic=86, heart_rate=88, note="Shifting about and says they feel uneasy.",
        ),
    ]  # fmt: skip
    for row in rows:
        row.full_clean()
    CompanionCheckin.objects.bulk_create(rows)
    return len(rows)
