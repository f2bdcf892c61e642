"""Every audit action code in words: the one table that turns `client.view` into "Opened
your record" (the client's access list, the accounting of disclosures, the audit page).

Each code says what happened (`words`, written for the client: "your record"), what kind of
event it is (`kind`: a read, a write, a copy released, something sent out, or an event with
no client data), and for reads, releases and sends what information it shows (`what`).
kapflow.audit.accounting decides which events are disclosures; this module only names them.

A code the code base writes without a line here fails tests/audit/test_action_words.py, so
a new audit action comes with its words. Rows written under a code that was later removed
still read as words (UNKNOWN), never as the code.
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    READ = "read"  # someone saw information about the client
    WRITE = "write"  # someone added or changed information
    RELEASE = "release"  # a copy left kapflow (a PDF or a file)
    SHARE = "share"  # information was sent to someone outside the practice
    OTHER = "other"  # no client information (sign-ins, settings)


@dataclass(frozen=True)
class ActionWords:
    words: str
    kind: Kind
    what: str = ""


def _r(words: str, what: str) -> ActionWords:
    return ActionWords(words, Kind.READ, what)


def _w(words: str) -> ActionWords:
    return ActionWords(words, Kind.WRITE)


def _o(words: str) -> ActionWords:
    return ActionWords(words, Kind.OTHER)


RECORD = "your record: name, date of birth, contact details and care team"
REFERRAL = "your referral: reason for referral, diagnoses, current medicines, relevant history"
SESSION = "a dosing session: doses, vital signs, observations and discharge"
NOTE = "a clinical note"
COMPANION_PAGE = (
    "your first name, your at-home session's date and time, the practice's and therapist's "
    "contact details and the safety sheet"
)

ACTIONS: dict[str, ActionWords] = {
    # Records and care teams
    "client.create": _w("Created your record"),
    "client.list": _r("Saw your name in a list of clients", "your name and date of birth"),
    "client.update": _w("Changed your details"),
    "client.view": _r("Opened your record", RECORD),
    "care_team.add": _w("Added someone to your care team"),
    "care_team.remove": _w("Ended someone's place on your care team"),
    "care_team.view": _r("Looked at your care team", "who is on your care team"),
    "portal.invite_client": _w("Invited you to the client portal"),
    "portal.record_view": _r("Opened your portal home page", "your portal home page"),
    "access.denied": _o("Was refused a record held by another organisation"),
    # Companions
    "companion.invite": ActionWords(
        "Invited a companion",
        Kind.SHARE,
        "an invitation e-mail naming your practice; it does not name you or your treatment",
    ),
    "companion.view": _r("Your companion opened their page", COMPANION_PAGE),
    "companion.confirm": _w("Your companion confirmed the safety checklist"),
    "companion.checkin": _w("Your companion sent a check-in"),
    "companion_checkin.list": _r("Read your companion's check-ins", "your companion's check-ins"),
    # Courses of care
    "course.open": _w("Opened a course of care for you"),
    "course.list": _r("Saw your course in a list", "your name and your course's stage"),
    "course.view": _r(
        "Opened your course of care", "your course: stage, safety checks, sessions and timeline"
    ),
    "course.start_intake": _w("Started your intake assessment"),
    "course.refer": _w("Moved your course to referral"),
    "course.begin_evaluation": _w("Began your medical evaluation"),
    "course.decide_eligible": _w("Recorded that ketamine is suitable for you"),
    "course.decide_not_eligible": _w("Recorded that ketamine is not suitable for you now"),
    "course.decline_referral": _w("Returned your course to intake after the referral closed"),
    "course.record_consent": _w("Recorded your consent"),
    "course.start_preparation": _w("Started your preparation"),
    "course.activate": _w("Started the dosing part of your course"),
    "course.enter_maintenance": _w("Moved your course to maintenance"),
    "course.resume": _w("Resumed your course"),
    "course.complete": _w("Completed your course"),
    "course.discharge": _w("Discharged you from your course"),
    "course.withdraw": _w("Recorded that you left your course"),
    "course.record_preparation": _w("Recorded a preparation session"),
    "course.record_risk_screen": _w("Recorded a safety (suicide-risk) screen"),
    "course.record_integration": _w("Recorded an integration session"),
    "course.record_followup": _w("Recorded a medical follow-up"),
    "course.dosing_gate_passed": _w("Checked that a dosing session could start"),
    "course.dosing_start": _w("Recorded a dosing session"),
    "course.gate_override": _w("Overrode a safety check on your course, with a reason"),
    "course.override_report": _r(
        "Looked at the report of safety-check overrides", "safety-check overrides on your course"
    ),
    # Referral, evaluation, prescriptions (the partner prescriber)
    "referral.send": ActionWords("Sent your referral to a prescriber", Kind.SHARE, REFERRAL),
    "referral.list": _r("Saw your referral in a list", "your name and your referral's status"),
    "referral.view": _r("Opened your referral", REFERRAL),
    "referral.accept": _w("Accepted your referral"),
    "referral.schedule": _w("Scheduled your medical evaluation"),
    "referral.declined": _w("Declined your referral"),
    "referral.withdrawn": _w("Withdrew your referral"),
    "evaluation.view": _r(
        "Opened your medical evaluation", "your medical evaluation: history, medicines, findings"
    ),
    "evaluation.update": _w("Updated your medical evaluation"),
    "eligibility.eligible": _w("Signed a decision that ketamine is suitable for you"),
    "eligibility.not_eligible": _w("Signed a decision that ketamine is not suitable for you now"),
    "eligibility.needs_info": _w("Asked for more information before deciding"),
    "prescriber_queue.view": _r(
        "Saw you in the prescriber's queue", "your name and where your referral or care stands"
    ),
    "prescription.issue": _w("Issued a prescription"),
    "prescription.view": _r("Opened a prescription", "a prescription with its fills and doses"),
    "prescription.cancel": _w("Cancelled a prescription"),
    "prescription.dispense": _w("Recorded a prescription fill"),
    "prescription.ship": _w("Recorded that a prescription was shipped"),
    "refill.decline": _w("Declined a refill request"),
    "dose.authorise": _w("Authorised a different dose for a session"),
    "dose.amount": _w("Recorded the amount of a dose"),
    "dose.use": _w("Counted a dose used from your prescription"),
    "dose.log": _w("Logged a daily dose"),
    "dose_log.view": _r("Opened your dose log", "your daily dose log"),
    # Dosing sessions
    "dosing_session.open": _w("Opened a dosing session"),
    "dosing_session.open_view": _r("Saw your open dosing session", "that a session is open"),
    "dosing_session.start": _w("Started a dosing session"),
    "dosing_session.view": _r("Opened a dosing session", SESSION),
    "dosing_session.poll": _r("Followed your dosing session live", SESSION),
    "dosing_session.checklist": _w("Completed a pre-session checklist"),
    "dosing_session.dose": _w("Recorded a dose in your session"),
    "dosing_session.vitals": _w("Recorded your vital signs in a session"),
    "dosing_session.observation": _w("Recorded an observation in your session"),
    "dosing_session.event": _w("Recorded an event in your session"),
    "dosing_session.intervention": _w("Recorded an intervention in your session"),
    "dosing_session.note": _w("Added a note to your session"),
    "dosing_session.companion_readout": _w("Your companion sent a reading during a session"),
    "dosing_session.correct": _w("Corrected an entry in your session"),
    "dosing_session.discharge": _w("Discharged you from a dosing session"),
    "dosing_session.abandon": _w("Closed a dosing session without discharge"),
    "telehealth.join": _w("Joined the video room of your session"),
    "telehealth.leave": _w("Left the video room of your session"),
    "telehealth.admit": _w("Admitted someone to the video room of your session"),
    "telehealth.remove": _w("Removed someone from the video room of your session"),
    "telehealth.invite": _w("Invited a clinician to the video room of your session"),
    "telehealth.end": _w("Ended the video room of your session"),
    "telehealth.visual_check": _w("Your companion answered a visual check during your session"),
    "telehealth.callback_phone": _w("Your companion gave a phone number for your session"),
    "group_session.create": _w("Created a group session"),
    "group_session.candidates": _r(
        "Saw your name among candidates for a group session", "your name and course stage"
    ),
    "group_session.view": _r("Opened a group session", "your place and state in a group session"),
    "group_session.poll": _r(
        "Followed a group session live", "your place and state in a group session"
    ),
    "group_session.close": _w("Closed a group session"),
    # Assessments and outcomes
    "assessment.plan": _w("Planned your questionnaires"),
    "assessment.assign": _w("Gave you a questionnaire"),
    "assessment.link_send": _w("Sent you a link to a questionnaire"),
    "assessment.draft": _w("Saved a questionnaire in progress"),
    "assessment.submit": _w("Submitted a questionnaire"),
    "assessment.enter": _w("Entered questionnaire answers for you"),
    "assessment.correct": _w("Corrected a questionnaire"),
    "assessment.list": _r("Saw your questionnaires in a list", "your questionnaires and scores"),
    "assessment.view": _r("Opened one of your questionnaires", "a questionnaire's answers"),
    "outcomes.client_view": _r(
        "Looked at your questionnaire scores over time", "your scores over time"
    ),
    "outcomes.own_view": _r("Looked at your scores over time", "your scores over time"),
    "outcomes.practice_view": _o("Looked at the practice's de-identified outcomes"),
    "outcomes.practice_api": _o("Read the practice's de-identified outcomes through the API"),
    "practice.export": ActionWords(
        "Exported the practice's whole record to an archive", Kind.RELEASE, "every record"
    ),
    "outcomes.practice_export": ActionWords(
        "Exported the practice's de-identified outcomes as CSV", Kind.RELEASE, "no one's name"
    ),
    "urgent_task.raise": _w("Raised an urgent task for your care team"),
    "urgent_task.view": _r("Opened an urgent task about you", "an urgent task and its screen"),
    "urgent_task.reassess": _w("Recorded a risk reassessment"),
    "urgent_task.resolve": _w("Resolved an urgent task"),
    # Consent, journal, alerts, messages
    "consent.sign": _w("Signed a consent form"),
    "consent.view": _r("Opened a signed consent form", "a consent form you signed"),
    "consent.withdraw": _w("Withdrew a consent"),
    "consent_document.publish": _o("Published a consent form version"),
    "journal.create": _w("Wrote a journal entry"),
    "journal.update": _w("Changed a journal entry"),
    "journal.delete": _w("Deleted a journal entry"),
    "journal.read_shared": _r(
        "Read journal entries you shared", "the journal entries you chose to share"
    ),
    "alert.raise": _w("Raised an alert (a reaction report or a call for help)"),
    "alert.list": _r("Saw your open alerts in a list", "your open alerts"),
    "dashboard.view": _r(
        "Saw your name on a clinician's home page",
        "your name, an open session's latest flagged reading, or a task that is due",
    ),
    "alert.view": _r("Opened an alert", "a reaction report or a call for help"),
    "alert.acknowledge": _w("Acknowledged an alert"),
    "message_thread.create": _w("Started a message thread"),
    "message_thread.list": _r("Saw your message threads in a list", "the subjects of threads"),
    "message_thread.view": _r("Opened a message thread", "the messages in a thread"),
    "message_thread.read": _r("Read a message thread", "the messages in a thread"),
    "message_thread.participant_add": _w("Added someone to a message thread"),
    "message.send": _w("Sent a message"),
    "message_attachment.download": _r("Downloaded a message attachment", "a file in a message"),
    # Scheduling
    "appointment.book": _w("Booked an appointment"),
    "appointment.reschedule": _w("Moved an appointment"),
    "appointment.cancel": _w("Cancelled an appointment"),
    "appointment.completed": _w("Recorded that an appointment took place"),
    "appointment.no_show": _w("Recorded that an appointment was missed"),
    "appointment.check_in": _w("Checked you in for an appointment"),
    "appointment.start": _w("Started an appointment"),
    "appointment.encounter_open": _w("Opened the session record of an appointment"),
    "appointment.encounter_start": _w("Started the session of an appointment"),
    "appointment.encounter_finish": _w("Completed an appointment when its session ended"),
    "appointment.encounter_abandon": _w("Reopened an appointment when its session stopped"),
    "appointment.list": _r("Saw your appointments in a schedule", "appointment times and kinds"),
    "appointment.view": _r("Opened an appointment", "an appointment's time, kind and place"),
    "availability.rule_add": _o("Added working hours"),
    "availability.rule_remove": _o("Removed working hours"),
    "availability.exception_add": _o("Added time off or extra hours"),
    "availability.exception_remove": _o("Removed time off or extra hours"),
    "calendar_feed.create": _o("Created a private calendar feed"),
    "calendar_feed.read": _o("A calendar app read a private calendar feed"),
    "calendar_feed.revoke": _o("Revoked a private calendar feed"),
    "room.create": _o("Added a room"),
    "room.update": _o("Changed a room"),
    "scheduling.settings_update": _o("Changed the scheduling settings"),
    "session_settings.update": _o("Changed the dosing-session settings"),
    "telehealth.settings_update": _o("Changed the session room settings"),
    "gate_settings.update": _o("Changed the safety-check settings"),
    # Notes
    "note.create": _w("Started a clinical note"),
    "note.update": _w("Edited a draft clinical note"),
    "note.delete": _w("Deleted a draft clinical note"),
    "note.sign": _w("Signed a clinical note"),
    "note.cosign": _w("Co-signed a clinical note"),
    "note.addendum": _w("Added an addendum to a clinical note"),
    "note.list": _r("Saw the list of your clinical notes", "the dates and kinds of your notes"),
    "note.view": _r("Opened a clinical note", NOTE),
    "note.export": ActionWords(
        "Released a copy of a clinical note as a PDF",
        Kind.RELEASE,
        "a signed clinical note, as a PDF",
    ),
    "supervision.start": _o("Started a supervision"),
    "supervision.end": _o("Ended a supervision"),
    # Emergency access (decision 0036); what was read under it has its own rows
    "breakglass.opened": _w("Opened emergency access to your record"),
    "breakglass.use": _o("Used emergency access to your record"),
    "breakglass.ended": _o("Ended emergency access to your record"),
    "breakglass.revoked": _o("Revoked emergency access to your record"),
    "breakglass.expired": _o("Emergency access to your record expired"),
    "breakglass.reviewed": _o("Reviewed an emergency access to your record"),
    "breakglass.report": _r(
        "Looked at an emergency access to your record",
        "who opened your record in an emergency, when and why",
    ),
    "breakglass.no_match": _o("An emergency access matched no client"),
    # Amendments (HIPAA 164.526; decision 0035)
    "amendment.request": _w("Asked to correct your record"),
    "amendment.list": _r("Looked at requests to correct your record", "your requests"),
    "amendment.view": _r("Opened a request to correct your record", "a request and its answer"),
    "amendment.extend": _w("Extended the time to decide a request to correct your record"),
    "amendment.accept": _w("Accepted a request to correct your record"),
    "amendment.deny": _w("Denied a request to correct your record, with the reason"),
    "amendment.disagree": _w("Filed a statement of disagreement"),
    "amendment.rebut": _w("Wrote a rebuttal to a statement of disagreement"),
    # Billing (issue 15, decision 0045)
    "billing.settings": _o("Changed the practice's billing settings"),
    "fee.add": _o("Added a fee to the practice's fee schedule"),
    "coverage.view": _r("Looked at your insurance coverage", "your insurance details"),
    "coverage.update": _w("Changed your insurance coverage"),
    "diagnosis.add": _w("Added a diagnosis code for billing"),
    "diagnosis.remove": _w("Removed a diagnosis code for billing"),
    "invoice.create": _w("Started an invoice for you"),
    "invoice.list": _r("Looked at your invoices", "invoice amounts and dates"),
    "invoice.view": _r("Opened one of your invoices", "an invoice, its services and payments"),
    "invoice.issue": _w("Issued an invoice to you"),
    "invoice.void": _w("Voided one of your invoices"),
    "charge.add": _w("Charged a session to your invoice"),
    "package.sell": _w("Sold you a prepaid package"),
    "package.draw": _w("Drew a session from your prepaid package"),
    "subscription.start": _w("Started a monthly subscription for you"),
    "subscription.cancel": _w("Cancelled your monthly subscription"),
    "subscription.bill": _w("Charged your monthly subscription to your invoice"),
    "payment.record": _w("Recorded a payment from you"),
    "payment.refund": _w("Refunded a payment to you"),
    "credit.apply": _w("Gave you a credit on an invoice"),
    "write_off.record": _w("Wrote off part of an invoice"),
    "statement.run": _o("Made the month's statements"),
    "statement.view": _r("Looked at your monthly statement", "your balance and payments"),
    "statement.export": ActionWords(
        "Printed your monthly statement", Kind.RELEASE, "your balance and payments"
    ),
    "finance.view": _o("Looked at the practice's finances"),
    "superbill.export": ActionWords(
        "Printed a superbill for you",
        Kind.RELEASE,
        "your name, date of birth, insurance, diagnoses and services",
    ),
    "receipt.export": ActionWords(
        "Printed a receipt for you", Kind.RELEASE, "your name and a payment"
    ),
    "claims.export": ActionWords(
        "Exported claim data",
        Kind.RELEASE,
        "your name, date of birth, insurance, diagnoses and services",
    ),
    # The accounting of disclosures (this app)
    "disclosure.record": _w("Recorded a disclosure of your information made outside kapflow"),
    "disclosure.list": _r("Looked at the accounting of disclosures", "this accounting"),
    "disclosure.accounting_export": _r("Printed the accounting of disclosures", "this accounting"),
    # FHIR (decision 0048)
    "fhir.read": _r(
        "Read your record through the FHIR interface", "one FHIR resource of your record"
    ),
    "fhir.search": _r("Found your record in a FHIR search", "FHIR resources of your record"),
    "fhir.everything": _r(
        "Read your whole record through the FHIR interface", "every FHIR resource of your record"
    ),
    "fhir.export": _r(
        "Copied your record into a FHIR bulk export", "FHIR resources of your record"
    ),
    "fhir.export_start": _o("Started a FHIR bulk export"),
    "fhir.export_cancel": _o("Cancelled a FHIR bulk export"),
    "fhir.export_download": _o("Downloaded a file of a FHIR bulk export"),
    "fhir.record_download": ActionWords(
        "Downloaded your record as a FHIR file", Kind.RELEASE, "your whole record as FHIR"
    ),
    "fhir.record_pdf": ActionWords(
        "Downloaded your record as a PDF", Kind.RELEASE, "your whole record as a PDF"
    ),
    "audit.export": ActionWords("Exported the audit trail as CSV", Kind.RELEASE, "audit events"),
    "audit.export_verify": _o("Checked a file against kapflow's exports"),
    # Accounts, sign-in and security
    "auth.sign_in": _o("Signed in"),
    "auth.sign_in_fail": _o("A sign-in failed"),
    "auth.lockout": _o("An account was locked after failed sign-ins"),
    "auth.sign_out": _o("Signed out"),
    "auth.session_end": _o("A session ended after inactivity"),
    "mfa.enrol": _o("Set up an authenticator app"),
    "mfa.verify": _o("Passed the second sign-in step"),
    "mfa.fail": _o("A second sign-in step failed"),
    "mfa.recovery_codes": _o("Made new recovery codes"),
    "password.change": _o("Changed a password"),
    "password.reset_request": _o("Asked for a password reset"),
    "password.reset_limited": _o("A password reset was refused: too many requests"),
    "password.reset": _o("Reset a password"),
    "api_token.create": _o("Created an API token"),
    "api_token.revoke": _o("Revoked an API token"),
    "invitation.create": _o("Sent an invitation"),
    "invitation.resend": _o("Sent an invitation again"),
    "invitation.revoke": _o("Withdrew an invitation"),
    "invitation.accept": _o("Accepted an invitation"),
    "membership.set_roles": _o("Changed a member's roles"),
    "membership.deactivate": _o("Deactivated a member"),
    "licence.add": _o("Added a licence"),
    "certificate.add": _o("Added a certificate"),
    "user.time_zone": _o("Changed a time zone setting"),
    # The public directory (issue 16, decision 0046)
    "directory.practice_create": _o("Created the practice's directory profile"),
    "directory.practice_update": _o("Changed the practice's directory profile"),
    "directory.clinician_create": _o("Created a clinician's directory card"),
    "directory.clinician_update": _o("Changed a clinician's directory card"),
    "directory.inquiry_submit": _w("Sent a consultation request from the public directory"),
    "directory.inquiry_confirm": _w("Confirmed your consultation request"),
    "directory.inquiry_cancel": _w("Cancelled your consultation request"),
    "directory.inquiry_move": _w("Moved the time of your consultation request"),
    "directory.inquiry_view": _r(
        "Opened your consultation request", "your contact details, message and pre-screen"
    ),
    "directory.inquiry_contacted": _w("Noted that you were contacted about your request"),
    "directory.inquiry_booked": _w("Noted that your consultation was booked"),
    "directory.inquiry_converted": _w("Noted that you became a client"),
    "directory.inquiry_closed": _w("Closed your consultation request, with the reason"),
    "appointment.self_book": _w("Booked a session in the portal"),
    "appointment.self_move": _w("Moved a session in the portal"),
    "appointment.self_cancel": _w("Cancelled a session in the portal"),
    "appointment.dosing_request": _w("Asked for a dosing session in the portal"),
}

UNKNOWN = ActionWords("Other activity on your record", Kind.OTHER)


def action_words(code: str) -> ActionWords:
    return ACTIONS.get(code, UNKNOWN)


def codes_of_kind(*kinds: Kind) -> list[str]:
    return sorted(code for code, words in ACTIONS.items() if words.kind in kinds)


def staff_words(code: str) -> str:
    """The same words for the practice's staff, who read about a client rather than to one:
    "Opened your record" becomes "Opened the client's record"."""
    words = ACTIONS[code].words if code in ACTIONS else "Other activity"
    return words.replace("your ", "the client's ").replace("you ", "the client ")
