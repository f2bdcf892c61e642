"""The scheduling scenarios of ``bench/run.py`` (``--scenarios schedule``).

Data set: CLINICIANS therapists of the bench practice, each with five appointment slots on
every weekday (90 % booked) from four years ago to one year ahead: about 300,000
appointments and 600,000 participant rows (the client and the therapist), loaded with COPY.
A further clinician with a handful of appointments in the current week is the "small" one
for the flat-query-count check. Reused when the row counts match (``--rebuild`` forces).

Timed:

- ``selector.schedule.week``: ``scheduling.selectors.week_for_member`` for the current week of
  clinician 0 (about 23 appointments), forcing every participant's name as the page does;
- ``http.schedule.week``: GET /schedule/ signed in as that clinician;
- ``http.schedule.feed``: GET /schedule/feed/<token>.ics for that clinician (30 days back,
  a year ahead: about 1,300 events);
- baselines ``schedule.week`` (hand-written SQL returning the same week rows and their
  participants) and ``schedule.feed`` (the feed's rows, without building the .ics).

Before timing, the query counts of the selector, the page and the feed for the small
clinician are compared with those for clinician 0: they must be equal.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from common import capture, count_statements, load_actor, log  # bench/common.py

CLINICIANS = 50
YEARS_BACK = 4
YEARS_AHEAD = 1
SLOTS = ((9, 0), (10, 30), (13, 0), (14, 30), (16, 0))
FILL = 0.9
SEED = 20261125
CLINICIAN_EMAIL = "bench-sched-{}@kapflow-bench.example"
SMALL_EMAIL = "bench-sched-small@kapflow-bench.example"
KINDS = ["therapy"] * 6 + ["integration"] * 2 + ["preparation", "dosing"]
ZONE = "America/Los_Angeles"


def _clinicians(data: dict):
    from kapflow.accounts.models import Membership, MembershipRole, Role, User

    practice = data["practice"]
    out = []
    for i in [*list(range(CLINICIANS)), "small"]:
        email = SMALL_EMAIL if i == "small" else CLINICIAN_EMAIL.format(i)
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, password=None, full_name=f"Sched Bench {i}"
        )
        membership, _ = Membership.objects.get_or_create(organisation=practice, user=user)
        MembershipRole.objects.get_or_create(membership=membership, role=Role.THERAPIST)
        out.append(membership)
    return out[:-1], out[-1]


def _plan(now: datetime):
    """Every (clinician index, start) booked, deterministic for a given week."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(ZONE)
    rng = random.Random(SEED)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=365 * YEARS_BACK)
    first -= timedelta(days=first.weekday())
    last = today + timedelta(days=365 * YEARS_AHEAD)
    day = first
    while day <= last:
        if day.weekday() < 5:
            for c in range(CLINICIANS):
                for h, m in SLOTS:
                    if rng.random() < FILL:
                        local = datetime(day.year, day.month, day.day, h, m, tzinfo=tz)
                        yield c, local.astimezone(UTC)
        day += timedelta(days=1)


def build_schedule(data: dict, rebuild: bool) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from kapflow.patients.models import Client
    from kapflow.scheduling.models import AppointmentParticipant

    clinicians, small = _clinicians(data)
    practice, admin = data["practice"], data["admin"]
    ids = [m.pk for m in clinicians]
    have = AppointmentParticipant.objects.filter(membership_id__in=ids).count()
    # A fixed "now" per build day keeps the plan deterministic within the day.
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    expected = sum(1 for _ in _plan(now))
    small_have = AppointmentParticipant.objects.filter(membership=small).count()
    # A client rebuild (bench/run.py delete_rows) takes the client participants with it.
    clients_have = AppointmentParticipant.objects.filter(
        appointment__participants__membership_id__in=ids, role="client"
    ).count()
    if (
        not rebuild
        and abs(have - expected) <= expected * 0.01
        and small_have
        and clients_have == have
    ):
        log(f"reusing schedule data set: {have:,} appointments of {CLINICIANS} clinicians")
        return {"reused": True, "build_seconds": 0.0, "appointments": have,
                "clinicians": clinicians, "small": small}  # fmt: skip

    started = time.perf_counter()
    # Delete and make in one transaction: an error part-way keeps the old data set.
    with transaction.atomic():
        with connection.cursor() as cursor:
            log("removing old schedule data set")
            cursor.execute(
                "DELETE FROM scheduling_remindersent WHERE appointment_id IN "
                "(SELECT appointment_id FROM scheduling_appointmentparticipant "
                "WHERE membership_id = ANY(%s))",
                [[*ids, small.pk]],
            )
            cursor.execute(
                "CREATE TEMP TABLE bench_old AS SELECT DISTINCT appointment_id AS id FROM "
                "scheduling_appointmentparticipant WHERE membership_id = ANY(%s)",
                [[*ids, small.pk]],
            )
            cursor.execute(
                "DELETE FROM scheduling_appointmentparticipant WHERE appointment_id IN "
                "(SELECT id FROM bench_old)"
            )
            cursor.execute(
                "UPDATE scheduling_appointment SET follows_id = NULL, rescheduled_from_id = NULL "
                "WHERE follows_id IN (SELECT id FROM bench_old) OR rescheduled_from_id IN "
                "(SELECT id FROM bench_old)"
            )
            cursor.execute(
                "DELETE FROM scheduling_appointment WHERE id IN (SELECT id FROM bench_old)"
            )
            cursor.execute("DROP TABLE bench_old")

        client_ids = list(
            Client.objects.filter(organisation=practice).order_by("id").values_list("id", flat=True)
        )
        rng = random.Random(SEED + 1)
        appt_cols = (
            "id, organisation_id, kind, course_id, starts_at, ends_at, time_zone, room_id, "
            "telehealth, telehealth_url, is_group, status, status_reason, status_changed_at, "
            "status_changed_by_id, series_id, rescheduled_from_id, follows_id, created_by_id, "
            "created_at, version"
        )
        part_cols = (
            "organisation_id, appointment_id, role, membership_id, client_id, companion_id, "
            "course_id, starts_at, ends_at, live"
        )
        made = 0
        log(f"creating about {expected:,} appointments with COPY")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("LOCK TABLE scheduling_appointment IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM scheduling_appointment")
            next_id = cursor.fetchone()[0] + 1
            plan = list(_plan(now))
            # The small clinician: five appointments this week.
            monday = now - timedelta(days=now.weekday())
            plan += [("small", monday + timedelta(days=d, hours=17)) for d in range(5)]
            rows_a, rows_p = [], []
            for c, start in plan:
                kind = rng.choice(KINDS)
                minutes = 180 if kind == "dosing" else 60
                end = start + timedelta(minutes=minutes)
                status = "completed" if end < now else "scheduled"
                if rng.random() < 0.03:
                    status = "cancelled"
                live = "t" if status in ("scheduled", "completed") else "f"
                s, e = start.isoformat(), end.isoformat()
                rows_a.append(
                    f"{next_id}\t{practice.pk}\t{kind}\t\\N\t{s}\t{e}\t{ZONE}\t\\N\tt\t\tf\t{status}"
                    f"\t\t\\N\t\\N\t\\N\t\\N\t\\N\t{admin.user_id}\t{s}\t1\n"
                )
                member = small.pk if c == "small" else ids[c]
                client = client_ids[rng.randrange(len(client_ids))]
                rows_p.append(
                    f"{practice.pk}\t{next_id}\tclient\t\\N\t{client}\t\\N\t\\N\t{s}\t{e}\t{live}\n"
                )
                rows_p.append(
                    f"{practice.pk}\t{next_id}\ttherapist\t{member}\t\\N\t\\N\t\\N\t{s}\t{e}\t{live}\n"
                )
                next_id += 1
                made += 1
            with cursor.copy(f"COPY scheduling_appointment ({appt_cols}) FROM STDIN") as copy:
                for i in range(0, len(rows_a), 50_000):
                    copy.write("".join(rows_a[i : i + 50_000]))
            log(f"  {made:,} appointments; participants")
            with cursor.copy(
                f"COPY scheduling_appointmentparticipant ({part_cols}) FROM STDIN"
            ) as copy:
                for i in range(0, len(rows_p), 50_000):
                    copy.write("".join(rows_p[i : i + 50_000]))
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('scheduling_appointment', 'id'), %s)",
                [next_id - 1],
            )
    log("VACUUM ANALYZE scheduling tables")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE scheduling_appointment")
        cursor.execute("VACUUM ANALYZE scheduling_appointmentparticipant")
    return {"reused": False, "build_seconds": time.perf_counter() - started,
            "appointments": made, "clinicians": clinicians, "small": small}  # fmt: skip


RAW_WEEK = """
    SELECT p.id, p.starts_at, a.id, a.kind, a.status, a.starts_at, a.ends_at, a.telehealth,
           r.name
    FROM scheduling_appointmentparticipant p
    JOIN scheduling_appointment a ON a.id = p.appointment_id
    LEFT JOIN scheduling_room r ON r.id = a.room_id
    WHERE p.membership_id = %s AND p.starts_at < %s AND p.ends_at > %s
      AND p.starts_at > %s AND a.status <> 'rescheduled'
    ORDER BY p.starts_at, p.appointment_id
"""
RAW_PARTICIPANTS = """
    SELECT p.id, p.appointment_id, p.role, c.legal_first_name, c.legal_last_name,
           c.preferred_name, u.full_name
    FROM scheduling_appointmentparticipant p
    LEFT JOIN patients_client c ON c.id = p.client_id
    LEFT JOIN accounts_membership m ON m.id = p.membership_id
    LEFT JOIN accounts_user u ON u.id = m.user_id
    WHERE p.appointment_id = ANY(%s)
    ORDER BY p.role, p.id
"""


RAW_FEED = """
    SELECT a.id, a.kind, a.starts_at, a.ends_at, a.telehealth, r.name, a.status, a.version
    FROM scheduling_appointmentparticipant p
    JOIN scheduling_appointment a ON a.id = p.appointment_id
    LEFT JOIN scheduling_room r ON r.id = a.room_id
    WHERE p.membership_id = %s AND p.starts_at < %s AND p.ends_at > %s AND p.starts_at > %s
      AND a.status <> 'rescheduled'
    ORDER BY p.starts_at, p.appointment_id
"""


def raw_feed(membership_id: int, now) -> int:
    from django.db import connection

    start, end = now - timedelta(days=30), now + timedelta(days=365)
    with connection.cursor() as cursor:
        cursor.execute(RAW_FEED, [membership_id, end, start, start - timedelta(hours=8)])
        return len(cursor.fetchall())


def raw_week(membership_id: int, start, end) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(RAW_WEEK, [membership_id, end, start, start - timedelta(hours=8)])
        rows = cursor.fetchall()
        cursor.execute(RAW_PARTICIPANTS, [[r[2] for r in rows]])
        return len(rows) + len(cursor.fetchall())


def schedule_scenarios(data: dict, repeat: int):
    """(plan, raw baselines, facts) for bench/run.py."""
    from django.test import Client as HttpClient
    from django.utils import timezone

    from kapflow.scheduling import selectors, services

    built = build_schedule(data, data.get("rebuild", False))
    data["schedule"] = built
    full = load_actor(built["clinicians"][0].pk)
    small = load_actor(built["small"].pk)
    today = timezone.localdate()

    def sel_week(actor):
        def run(_i):
            week = selectors.week_for_member(actor=actor, week_of=today, zone_name=ZONE)
            n = 0
            for day in week.days:
                for appt in day.appointments:
                    for p in appt.participants.all():
                        _ = p.client.display_name if p.client_id else p.membership.user.full_name
                    n += 1
            return n

        return run

    def web_for(membership):
        web = HttpClient()
        web.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return web

    def http_get(web, path):
        def run(_i):
            response = web.get(path)
            if response.status_code != 200:
                raise SystemExit(f"GET {path} answered {response.status_code}")
            return len(response.content)

        return run

    feeds = {}
    for who in (full, small):
        _, raw = services.calendar_feed_create(actor=who)
        feeds[who.pk] = f"/schedule/feed/{raw}.ics"
    web_full, web_small = web_for(full), web_for(small)
    anonymous = HttpClient()

    flat = {}
    for name, at_small, at_full in (
        ("selector", sel_week(small), sel_week(full)),
        ("http.week", http_get(web_small, "/schedule/"), http_get(web_full, "/schedule/")),
        ("http.feed", http_get(anonymous, feeds[small.pk]), http_get(anonymous, feeds[full.pk])),
    ):
        at_small(0), at_full(0)
        small_n, _ = count_statements(capture(at_small, 0))
        full_n, _ = count_statements(capture(at_full, 0))
        flat[name] = {"small": small_n, "full": full_n}
        if small_n != full_n:
            log(f"QUERY COUNT GROWS: schedule {name} {small_n} small, {full_n} full")

    _, start, end = selectors.week_bounds(today, ZONE)
    week_rows = sel_week(full)(0)
    feed_events = anonymous.get(feeds[full.pk]).content.count(b"BEGIN:VEVENT")

    raw = {
        "schedule.week": lambda _i: raw_week(full.pk, start, end),
        "schedule.feed": lambda _i: raw_feed(full.pk, timezone.now()),
    }
    plan = [
        ("selector.schedule.week", "week_for_member, clinician 0, this week", sel_week(full),
         "schedule.week"),
        ("http.schedule.week", "GET /schedule/ (clinician 0)", http_get(web_full, "/schedule/"),
         "schedule.week"),
        ("http.schedule.feed", "GET /schedule/feed/<token>.ics (clinician 0)",
         http_get(anonymous, feeds[full.pk]), "schedule.feed"),
    ]  # fmt: skip

    def facts() -> dict:
        from kapflow.scheduling.models import Appointment

        total = Appointment.objects.filter(organisation_id=data["practice"].pk).count()
        log(
            f"schedule: {total:,} appointments, {CLINICIANS} clinicians; week of clinician 0: "
            f"{week_rows} appointments; feed: {feed_events} events; query counts {flat}"
        )
        return {
            "schedule_appointments": total,
            "schedule_clinicians": CLINICIANS,
            "schedule_week_rows": week_rows,
            "schedule_feed_events": feed_events,
            "schedule_query_counts": flat,
            "schedule_queries_flat": all(v["small"] == v["full"] for v in flat.values()),
            "schedule_built": {
                "reused": built["reused"],
                "seconds": round(built["build_seconds"], 1),
            },
        }

    return plan, raw, facts
