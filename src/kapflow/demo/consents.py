"""The demo practice's consent documents (their texts and versions) and each course's
signatures and withdrawals.
"""

from datetime import datetime, timedelta

from kapflow.core import clock
from kapflow.demo.plan import HOME, DemoCourse, Plan

# ---- informed consent -----------------------------------------------------------------------

# Harbor Light Therapy's consent documents, in plain words, covering the off-label consent
# elements of DOMAIN.md section 4. Version 1 of each was published long before any course;
# version 2 of the KAP consent was published days ago, so clients must sign it again.
CONSENT_V1_DAYS = 730
CONSENT_V2_DAYS = 6

KAP_CONSENT_V1 = """\
This document explains ketamine-assisted psychotherapy (KAP) at Harbor Light Therapy so that \
you can decide whether to take part. Please read all of it and ask us about anything unclear \
before you sign.

1. What KAP is
KAP combines psychotherapy with a medicine, ketamine, taken under the care of a prescriber from \
our partner, Northstar Medical Group. Your therapist prepares you before any session, stays \
with you (in the office or by video) while the medicine acts, and meets you afterwards to make \
sense of the experience. The medicine is one part of the treatment; the therapy is the other.

2. Ketamine is used "off label"
Ketamine is approved by the FDA as an anaesthetic. Using it for depression, anxiety, PTSD or \
other mental-health conditions is "off label": your prescriber may lawfully prescribe it, but \
the FDA has not approved it for this use, and the doses and schedules we use come from research \
and clinical experience rather than an approved label. The FDA has also warned about ketamine \
that is compounded or taken at home without monitoring. An FDA-approved alternative exists: \
esketamine (Spravato), a nasal spray given in a certified clinic for treatment-resistant \
depression. You may ask your prescriber about it, or about other treatments, at any time.

3. What you may feel
During a session you may feel detached from your body or surroundings (dissociation), see or \
hear things differently, lose track of time, feel dreamy or sleepy, or feel sick or dizzy. \
Blood pressure and heart rate usually rise for a while. These effects normally fade within one \
to two hours. Some people find the experience unpleasant or frightening; your therapist is \
there to help you through it.

4. Risks
- Ketamine can be misused and can lead to dependence. Take it only as prescribed.
- Frequent or heavy use can damage the bladder. Tell us at once about pain when passing urine, \
needing to go very often, or blood in the urine.
- Memory and attention can be affected around the time of dosing, and heavy long-term use has \
been linked to lasting problems with thinking.
- Mood can get worse, and suicidal thoughts can appear or increase. Tell your care team \
straight away if this happens.
- The long-term effects of repeated KAP are not fully known.
- Ketamine should not be used in pregnancy or while breastfeeding. Tell us if you are or may \
become pregnant.
- Ketamine can interact with other medicines, alcohol and drugs. Tell your prescriber about \
everything you take.

5. Safety rules
Before every dosing session we check your blood pressure and ask you to confirm you have had no \
alcohol in the previous 24 hours. After a session you must not drive, operate machinery or make \
important decisions until the next day. After an in-office session someone must take you home.

6. Touch, recording and confidentiality
Your therapist will not touch you during a session except for supportive touch you agreed to \
beforehand (for example a hand on the shoulder), or in an emergency. Sessions are not recorded \
unless you agree in writing. What you share is confidential, with the limits the law sets: we \
must act if there is a serious risk of harm to you or others, or suspected abuse of a child or \
vulnerable adult, or if a court orders us to.

7. Emergencies
In an emergency call 911. In a mental-health crisis call or text 988, the Suicide & Crisis \
Lifeline. Our phone is not answered around the clock.

8. Your right to withdraw
Taking part is your choice. You may stop at any time, without giving a reason, by telling your \
therapist or by withdrawing this consent in your portal. Stopping does not affect the rest of \
your care at Harbor Light Therapy. Once you withdraw, no dosing session takes place unless you \
consent again.
"""

# Version 2: touch agreed in writing beforehand, and bladder symptoms asked at each session.
KAP_CONSENT_V2 = KAP_CONSENT_V1.replace(
    "6. Touch, recording and confidentiality\n",
    "6. Touch, recording and confidentiality\n"
    "Before your first session you and your therapist write down which supportive touch, if "
    "any, you agree to; you may change your mind at any time, including during a session. ",
).replace(
    "or blood in the urine.",
    "or blood in the urine. We ask about these symptoms before each session.",
)

TELEHEALTH_CONSENT = """\
This consent covers therapy sessions by video and dosing sessions at home. It adds to your \
consent to ketamine-assisted psychotherapy.

1. Sessions by video
Sessions by video use a secure service that does not record. Join from a private place in the \
state where you told us you live: your clinicians are licensed there. If the connection fails \
during a session, your therapist calls you on the phone number on your record.

2. Before an at-home dosing session
- A trusted adult (your companion) is with you in person for the whole session and for a while \
afterwards. Your companion has agreed to this and knows how to reach us.
- You measure your blood pressure and share it with your therapist before you take the \
medicine; if it is too high, the session does not go ahead.
- You confirm you have had no alcohol in the last 24 hours.
- You take the dose only when your therapist is with you on video and says to begin.

3. After the session
Do not drive, cycle, operate machinery or make important decisions until the next day. Rest in \
a safe place with your companion nearby.

4. Your medicine at home
Keep the medicine locked away, out of reach of children, pets and visitors. Never share it or \
give it to anyone else. Take it only as prescribed. Count your doses and tell us if any are \
missing. Ask the pharmacy or your prescriber how to dispose of medicine you no longer need.

5. Emergencies
At the start of each session your therapist confirms your address and your companion's phone \
number, so that help can be sent if needed. In an emergency call 911. In a mental-health crisis \
call or text 988.

6. Withdrawing
You may stop at-home sessions at any time and continue in the office, or withdraw this consent \
in your portal.
"""

RELEASE_OF_INFORMATION = """\
I authorise Harbor Light Therapy to share information about me with Northstar Medical Group, \
the medical practice whose prescriber evaluates me for ketamine treatment and, if I am \
eligible, prescribes and monitors it.

What may be shared: my contact details and date of birth; the reason for the referral and my \
diagnoses; my current medicines, allergies and relevant medical history; questionnaire scores \
if my therapist chooses to share them; and the dates and outcomes of dosing sessions. \
Psychotherapy notes are never shared.

Why: to evaluate whether ketamine is safe and suitable for me, to prescribe it, and to monitor \
my treatment.

Northstar Medical Group may share with Harbor Light Therapy what my therapist needs to provide \
my care: the eligibility decision, prescriptions and follow-up findings.

This authorisation lasts until my course of care ends, or for one year, whichever is sooner. I \
may revoke it at any time by withdrawing it in my portal or telling my therapist in writing; \
revoking does not undo what was already shared. My treatment does not depend on signing it, \
but without it the prescriber cannot evaluate me for ketamine. Information shared may no longer \
be protected by federal privacy law once the recipient holds it, although Northstar Medical \
Group is itself bound by HIPAA.
"""

FINANCIAL_POLICY = """\
This policy explains what you pay at Harbor Light Therapy.

Fees: our current fees for assessment, therapy, preparation, dosing and integration sessions are \
listed on the fee sheet you received. A dosing session usually lasts longer than a standard \
therapy hour; the extra time is charged at the hourly rate shown.

Insurance: many plans pay for psychotherapy but not for the extra time of a dosing session, and \
ketamine for mental-health conditions is off label, so it is rarely covered. The medical \
evaluation, prescriptions and pharmacy costs are billed by Northstar Medical Group and the \
pharmacy, not by us. On request we give you a superbill to claim from your insurer. If you pay \
for yourself, you are entitled to a Good Faith Estimate of the expected charges before care \
begins.

Payment is due at each session. Sessions cancelled with less than 48 hours' notice are charged \
in full unless the cancellation was for illness or an emergency.

If cost becomes a problem, talk to us: we can pause, change the plan or refer you to lower-cost \
options. Withdrawing consent or stopping treatment does not cancel fees for sessions that took \
place.
"""

CONSENT_DOCUMENTS = [
    # kind, version, title, body, days ago published, what changed
    ("kap", 1, "Consent to ketamine-assisted psychotherapy", KAP_CONSENT_V1, CONSENT_V1_DAYS, ""),
    ("telehealth", 1, "Telehealth and at-home dosing consent", TELEHEALTH_CONSENT,
     CONSENT_V1_DAYS, ""),
    ("release_of_information", 1, "Release of information to Northstar Medical Group",
     RELEASE_OF_INFORMATION, CONSENT_V1_DAYS, ""),
    ("financial_policy", 1, "Financial policy", FINANCIAL_POLICY, CONSENT_V1_DAYS, ""),
    ("kap", 2, "Consent to ketamine-assisted psychotherapy", KAP_CONSENT_V2, CONSENT_V2_DAYS,
     "You now agree in writing, before your first session, which supportive touch (if any) is "
     "welcome, and we ask about bladder symptoms before each session."),
]  # fmt: skip
WITHDRAWAL_REASON = "The client asked, in session, to stop dosing while they think it over."


def load_consent_documents(*, practice, admin, now: datetime) -> dict:
    """Harbor Light Therapy's consent documents, created once: {(kind, version): document}."""
    from kapflow.consents.models import ConsentDocument

    documents = {}
    for kind, version, title, body, days_ago, change in CONSENT_DOCUMENTS:
        document, _ = ConsentDocument.objects.get_or_create(
            organisation=practice, kind=kind, version=version,
            defaults={"title": title, "body": body, "change_summary": change,
                      "published_at": now - timedelta(days=days_ago),
                      "published_by": admin.user},
        )  # fmt: skip
        documents[(kind, version)] = document
    return documents


def plan_consents(spec: DemoCourse, plan: Plan, *, course, rng, now, documents, signed: set):
    """The client's signatures (and a withdrawal) that go with this course, as
    kapflow.consents.services would have written them: the financial policy at intake, the
    release of information before the referral, the KAP consent (and at home the telehealth
    consent) before the therapist confirmed it, version 2 of the KAP consent signed again
    since it was published (not by an outdated course), the withdrawal the timeline records.
    `signed` holds (kind, version) already signed by this client (an earlier course). Adds
    each signature's timeline event to plan.events. Returns [(signature, withdrawal)]."""
    from kapflow.consents.models import ConsentSignature, ConsentWithdrawal

    steps, client = plan.steps, course.client
    v2_at = documents[("kap", 2)].published_at
    end = min(filter(None, [plan.closed_at, plan.withdrawn_at, now])) - timedelta(hours=1)
    made: list[tuple] = []

    def sign(kind: str, at: datetime, version: int = 1) -> None:
        if (kind, version) in signed:
            return
        signed.add((kind, version))
        document = documents[(kind, version)]
        at = min(at, now - timedelta(minutes=30))
        signature = ConsentSignature(
            organisation=course.organisation, document=document, client=client,
            signed_by=client.user, typed_name=f"{client.legal_first_name} {client.legal_last_name}",
            signed_on=clock.clinical_date(course.organisation, at), signed_at=at, request_id="",
            content_sha256=document.content_sha256,
        )  # fmt: skip
        made.append([signature, None])
        plan.events.append(
            {"kind": "consent_signed", "occurred_at": at, "recorded_at": at,
             "actor_id": client.user_id, "actor_membership": None,
             "data": {"document_kind": kind, "document_label": document.get_kind_display(),
                      "version": version}}
        )  # fmt: skip

    def hours(low: float, high: float) -> timedelta:
        return timedelta(hours=rng.uniform(low, high))

    if "start_intake" in steps:
        sign("financial_policy", steps["start_intake"]["occurred_at"] - hours(1, 20))
    if "refer" in steps:
        sign("release_of_information", steps["refer"]["occurred_at"] - hours(2, 20))
    consented = steps.get("record_consent")
    at = None
    if consented is not None:
        at = consented["occurred_at"] - hours(2, 30)
    elif spec.client_signed and "decide_eligible" in steps:
        at = steps["decide_eligible"]["occurred_at"] + hours(2, 20)
    if at is not None:
        version = 2 if at >= v2_at else 1
        sign("kap", at, version)
        if spec.delivery == HOME:
            sign("telehealth", at + timedelta(minutes=rng.randint(2, 15)))
        if version == 1 and plan.closed_at is None and not spec.consent_outdated:
            sign("kap", v2_at + (end - v2_at) * rng.uniform(0.1, 0.9), 2)
        if consented is not None:  # the version the therapist confirmed
            consented["data"].update(consent_version=version, consent_signed_at=at.isoformat())
    if plan.withdrawn_at is not None:
        kap = [pair for pair in made if pair[0].document.kind == "kap"]
        signature = kap[-1][0]
        kap[-1][1] = ConsentWithdrawal(
            organisation=course.organisation, signature=signature,
            withdrawn_at=plan.withdrawn_at, withdrawn_by_id=course.therapist.user_id,
            on_behalf=True, reason=WITHDRAWAL_REASON,
        )  # fmt: skip
        for event in plan.events:
            if event["kind"] == "consent_withdrawn":
                event["reason"] = WITHDRAWAL_REASON
                event["data"] = {
                    "document_kind": "kap",
                    "document_label": signature.document.get_kind_display(),
                    "version": signature.document.version, "on_behalf": True,
                }  # fmt: skip
    return made
