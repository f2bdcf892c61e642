"""The accounting of disclosures (HIPAA 164.528, ONC 170.315(d)(11); decision 0037): one
line per disclosure of a client's information in the last six years, with its date, its
recipient, its purpose and what was disclosed, in words.

Two sources, one list:

- kapflow's own disclosures, read from the audit trail: an event about the client is a
  disclosure when information crossed to someone outside the practice that holds the record:
  a read (or a copy) by someone acting for another organisation (the partner prescriber, on
  a page or through the API); the referral sent to the partner; a read by the client's
  companion; a copy released as a file (the records-request PDF); the companion invitation.
  The words come from kapflow.audit.actions.
- disclosures staff made outside kapflow (an insurer, a court, public health, another
  provider), recorded as `Disclosure` rows through services.disclosure_record.

Repeated reads of one record by one person on one day are one line with a count (164.528(b)
(3) allows a summary of repeated disclosures to one recipient for one purpose); a file that
held several notes is one line. The list is read in a fixed number of queries whatever its
length (one grouped query for the trail, one for the recorded rows). This module reads; it
decides nothing about who may see the list (the views ask kapflow.policy).
"""

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from kapflow.audit.actions import Kind, action_words, codes_of_kind
from kapflow.audit.models import AuditEvent, Disclosure, DisclosurePurpose
from kapflow.core import clock

YEARS = 6  # 164.528(a): disclosures in the six years before the request

TREATMENT = "Treatment"
REFERRAL_PURPOSE = "Treatment: a medical evaluation for ketamine-assisted therapy"
COMPANION_PURPOSE = (
    "Your safety during sessions at home: a person involved in your care, whom you named"
)
INVITE_PURPOSE = "Inviting the companion you named, at your request"
RECORDS_PURPOSE = "A request for copies of your records"
OWN_COPY_PURPOSE = "Your own copy of your record (your right of access)"


@dataclass(frozen=True)
class Line:
    """One disclosure (or repeated identical ones on one day) as the client reads it."""

    on: date
    first_at: datetime | None  # None for a disclosure recorded by staff (a date only)
    last_at: datetime | None
    times: int
    recipient: str
    purpose: str
    what: str
    source: str  # "kapflow" (from the audit trail) or "recorded" (by staff)
    recipient_address: str = ""
    legal_basis: str = ""
    recorded_by: str = ""


@dataclass(frozen=True)
class Accounting:
    client: object
    since: date
    until: date
    zone_name: str
    lines: list[Line]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _name(full_name: str | None, email: str | None) -> str:
    return (full_name or "").strip() or (email or "") or "someone"


def _trail_rows(*, client, zone: ZoneInfo, since_at: datetime) -> list[dict]:
    """The audit events about `client` that are disclosures, grouped by local day, person,
    action and record, with names, in one query."""
    from kapflow.accounts.models import Membership, MembershipRole
    from kapflow.patients.models import Companion
    from kapflow.prescriptions.models import Referral

    reads = codes_of_kind(Kind.READ)
    sent_out = codes_of_kind(Kind.SHARE, Kind.RELEASE)
    companions = Companion.objects.filter(client_id=client.pk)
    crossing = (
        Q(organisation_id__isnull=False)
        & ~Q(organisation_id=client.organisation_id)
        & Q(action__in=reads + sent_out)
    ) | Q(action__in=sent_out)
    companion_read = Q(action__in=reads, actor_id__in=companions.values("user_id"))
    if client.user_id:
        companion_read &= ~Q(actor_id=client.user_id)
    membership = Membership.objects.filter(
        user_id=OuterRef("actor_id"), organisation_id=OuterRef("organisation_id")
    )
    referral = Referral.objects.filter(pk=OuterRef("target_id"))

    def about_referral(field):
        return Case(
            When(action="referral.send", target_type="referral", then=Subquery(
                referral.values(field)[:1]
            )),
            default=Value(None),
        )  # fmt: skip

    return list(
        AuditEvent.objects.filter(client_id=client.pk, at__gte=since_at)
        .filter(crossing | companion_read)
        .annotate(
            day=TruncDate("at", tzinfo=zone),
            api=Case(
                When(route__startswith="api:", then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            is_companion=Exists(companions.filter(user_id=OuterRef("actor_id"))),
            title=Subquery(membership.values("title")[:1]),
            role=Subquery(
                MembershipRole.objects.filter(
                    membership__user_id=OuterRef("actor_id"),
                    membership__organisation_id=OuterRef("organisation_id"),
                )
                .order_by("-role")
                .values("role")[:1]
            ),
            ref_partner_id=about_referral("partner_id"),
            ref_partner=about_referral("partner__name"),
            ref_prescriber=about_referral("prescriber__user__full_name"),
            ref_title=about_referral("prescriber__title"),
            ref_scores=about_referral("share_scores"),
        )
        .values(
            "day", "action", "actor_id", "organisation_id", "target_type", "target_id",
            "content_digest", "api", "is_companion", "title", "role", "actor__full_name",
            "actor__email", "organisation__name", "ref_partner_id", "ref_partner", "ref_prescriber",
            "ref_title", "ref_scores",
        )
        .annotate(times=Count("id"), first_at=Min("at"), last_at=Max("at"))
        .order_by()
    )  # fmt: skip


def _person(row) -> str:
    """'Pat Lee, NP (prescriber)'."""
    from kapflow.accounts.models import Role

    who = _name(row["actor__full_name"], row["actor__email"])
    if row["title"]:
        who = f"{who}, {row['title']}"
    if row["role"] in Role.values:
        who = f"{who} ({Role(row['role']).label.lower()})"
    return who


def _trail_line(row, *, client, zone: ZoneInfo) -> Line:
    words = action_words(row["action"])
    action = row["action"]
    other_org = row["organisation_id"] not in (None, client.organisation_id)
    what, purpose = words.what or words.words.lower(), TREATMENT
    if action == "referral.send":
        prescriber = _name(row["ref_prescriber"], "") if row["ref_prescriber"] else ""
        if prescriber and row["ref_title"]:
            prescriber = f"{prescriber}, {row['ref_title']}"
        partner = row["ref_partner"] or "the partner prescriber's practice"
        recipient = f"{prescriber} at {partner}" if prescriber else partner
        purpose = REFERRAL_PURPOSE
        if row["ref_scores"]:
            what = f"{what}, and recent questionnaire scores"
        what = f"{what} (sent by {_name(row['actor__full_name'], row['actor__email'])})"
    elif other_org:
        recipient = f"{_person(row)} at {row['organisation__name'] or 'another organisation'}"
        if row["api"]:
            recipient = f"{recipient}, through kapflow's API"
    elif row["is_companion"]:
        recipient = f"Your companion, {_name(row['actor__full_name'], row['actor__email'])}"
        purpose = COMPANION_PURPOSE
    elif action == "companion.invite":
        recipient = "The companion you invited (by e-mail)"
        purpose = INVITE_PURPOSE
    elif action in ("fhir.record_download", "fhir.record_pdf"):
        # The client's own copy (decision 0048): listed so they see every copy that left.
        recipient = "You, downloaded in the portal"
        purpose = OWN_COPY_PURPOSE
    else:  # a copy released as a file by the practice
        if row.get("notes", 1) > 1:
            what = f"{row['notes']} signed clinical notes, in one PDF"
        elif row["target_type"] == "client":
            what = "a records-request PDF that held no signed notes"
        by = _name(row["actor__full_name"], row["actor__email"])
        recipient = (
            f"The person the copy was given to (released by {by}, "
            f"{row['organisation__name'] or 'your practice'})"
        )
        purpose = RECORDS_PURPOSE
    return Line(
        on=row["day"],
        first_at=row["first_at"].astimezone(zone),
        last_at=row["last_at"].astimezone(zone),
        times=row["times"],
        recipient=recipient,
        purpose=purpose,
        what=what[:1].upper() + what[1:],
        source="kapflow",
    )


def _fold_files(rows: list[dict]) -> list[dict]:
    """One row per released file: a records-request PDF's notes were audited one row each,
    all carrying the file's digest. The folded row counts the notes in `notes`."""
    files: dict[tuple, dict] = {}
    out = []
    for row in rows:
        if action_words(row["action"]).kind is not Kind.RELEASE or not row["content_digest"]:
            out.append(row)
            continue
        key = (row["day"], row["actor_id"], row["action"], row["content_digest"])
        first = files.get(key)
        if first is None:
            files[key] = first = dict(row, notes=0, times=1)
            out.append(first)
        first["notes"] += row["times"]
        first["first_at"] = min(first["first_at"], row["first_at"])
        first["last_at"] = max(first["last_at"], row["last_at"])
    return out


def _recorded_line(disclosure: Disclosure) -> Line:
    purpose = disclosure.get_purpose_display()
    if disclosure.purpose == DisclosurePurpose.OTHER:
        purpose = disclosure.purpose_detail
    elif disclosure.purpose_detail:
        purpose = f"{purpose}: {disclosure.purpose_detail}"
    return Line(
        on=disclosure.disclosed_on,
        first_at=None,
        last_at=None,
        times=1,
        recipient=disclosure.recipient,
        purpose=purpose,
        what=disclosure.what,
        source="recorded",
        recipient_address=disclosure.recipient_address,
        legal_basis=disclosure.legal_basis,
        recorded_by=_name(disclosure.recorded_by.full_name, disclosure.recorded_by.email),
    )


def client_accounting(*, client, zone_name: str, now: datetime | None = None) -> Accounting:
    """The client's accounting of disclosures for the six years up to today in `zone_name`
    (the viewer's zone), newest first. Two queries whatever the number of lines."""
    zone = ZoneInfo(zone_name)
    today = timezone.localdate(now or clock.now(), zone)
    since = _years_before(today, YEARS)
    since_at = datetime.combine(since, time.min, tzinfo=zone)
    lines = []
    for row in _fold_files(_trail_rows(client=client, zone=zone, since_at=since_at)):
        if row["ref_partner_id"] == client.organisation_id:
            continue  # a referral to a prescriber of the practice itself stays inside it
        lines.append(_trail_line(row, client=client, zone=zone))
    recorded = (
        Disclosure.objects.for_org(client.organisation)
        .filter(client_id=client.pk, disclosed_on__gte=since)
        .select_related("recorded_by")
        .order_by("-disclosed_on", "-id")
    )
    lines.extend(_recorded_line(d) for d in recorded)
    lines.sort(
        key=lambda line: (line.on, line.last_at.timestamp() if line.last_at else 0.0),
        reverse=True,
    )
    return Accounting(client=client, since=since, until=today, zone_name=zone_name, lines=lines)
