"""Home pages: the staff home, the client's portal home and the companion's home.

A client sees only their own record; a companion sees nothing clinical.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render

from kapflow import policy
from kapflow.audit.accounting import client_accounting
from kapflow.audit.selectors import client_access_report
from kapflow.audit.services import audit_record
from kapflow.core.views import add_errors
from kapflow.patients import services as patient_services
from kapflow.patients.selectors import own_client_record
from kapflow.patients.services import COMPANION_CHECKLIST
from kapflow.portal.forms import CompanionCheckinForm, CompanionConfirmForm, CompanionInviteForm

# What the course's stage means for the client, in plain words (not the staff wording).
CLIENT_NEXT_STEP = {
    "inquiry": "Your therapist will meet you for a first conversation about KAP.",
    "intake": "Your therapist is assessing whether KAP suits you. You may be asked to fill in "
    "some questionnaires.",
    "referred": "You have been referred to a prescribing clinician for a medical evaluation. "
    "They will contact you to book it.",
    "medical_evaluation": "A prescribing clinician is evaluating whether ketamine is safe for "
    "you. They will tell you and your therapist what they decide.",
    "eligible": "The prescriber found ketamine suitable for you. Next, read and sign the "
    "informed consent.",
    "consented": "Thank you for signing the consent. Your therapist will book your preparation "
    "sessions.",
    "preparation": "You are preparing for your first dosing session with your therapist.",
    "active": "You are in the dosing and integration part of your course. Before each session, "
    "follow your preparation instructions; afterwards, write down what you noticed in your "
    "journal.",
    "maintenance": "You are in maintenance: occasional sessions and check-ins.",
    "not_eligible": "The prescriber decided ketamine is not right for you now. Your therapist "
    "will talk with you about other options.",
    "completed": "Your course is complete.",
    "discharged": "Your course has ended.",
    "withdrawn": "Your course has ended at your request.",
}


def client_home(request):
    client = own_client_record(user=request.user)
    if client is None:
        return render(request, "portal/no_membership.html")
    audit_record(
        actor=request.actor, action="portal.record_view", target=client, client_id=client.pk
    )
    from kapflow.assessments.models import Assignment
    from kapflow.courses.models import Course
    from kapflow.patients.models import Companion

    course = (
        Course.objects.filter(client=client).select_related("therapist__user")
        .order_by("closed_at", "-opened_at").first()
    )  # fmt: skip
    companions = list(Companion.objects.filter(client=client).select_related("user"))
    from django.utils import timezone

    from kapflow.amendments.selectors import amendments_for_details
    from kapflow.consents.selectors import own_consents
    from kapflow.encounters.selectors import open_sessions_for_party
    from kapflow.scheduling.selectors import upcoming_for_client

    to_sign = [row.label for row in own_consents(actor=request.actor).statuses if row.can_sign]
    open_forms = Assignment.objects.filter(
        client=client, completed_at__isnull=True, cancelled_at__isnull=True
    ).count()
    return render(
        request,
        "portal/client_home.html",
        {
            "client": client,
            "course": course,
            "next_step": CLIENT_NEXT_STEP.get(course.stage, "") if course else "",
            "daily_plan": course is not None
            and course.pathway == "low_dose"
            and course.stage in ("active", "maintenance"),
            "at_home": course is not None and course.delivery == "at_home",
            "companions": companions,
            "open_forms": open_forms,
            "to_sign": to_sign,
            # A session opened for the client and waiting for their checklist leads the card.
            "checklist_open": any(
                s.state == "checklist" for s in open_sessions_for_party(actor=request.actor)
            ),
            "mfa_offer": not _has_device(request.user),
            "appointments": upcoming_for_client(actor=request.actor),
            "zone_name": timezone.get_current_timezone_name(),
            "part_amendments": amendments_for_details(client=client),
            "for_client": True,
        },
    )


def _has_device(user) -> bool:
    from kapflow.accounts.services import has_authenticator

    return has_authenticator(user)


@login_required
def companion_new(request):
    """The client names a companion for at-home sessions."""
    actor = request.actor
    if not policy.is_client_actor(actor):
        raise Http404()
    form = CompanionInviteForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                patient_services.companion_invite(actor=actor, **form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
                status = 422
            else:
                messages.success(
                    request, "Invitation sent. Your companion will appear here once they accept."
                )
                return redirect("home")
        else:
            status = 422
    return render(request, "portal/companion_new.html", {"form": form}, status=status)


def _companion(request, companion_id: int):
    from kapflow.audit.services import audit_not_found
    from kapflow.patients.models import Companion

    companion = (
        Companion.objects.filter(pk=companion_id, user=request.user)
        .select_related("organisation", "client")
        .first()
        if policy.is_companion_actor(request.actor)
        else None
    )
    if companion is None:
        raise audit_not_found(actor=request.actor, model=Companion, object_id=companion_id)
    return companion


@login_required
def companion_detail(request, companion_id: int):
    """The companion's page for one client: session, safety sheet, checklist, check-ins.
    Only what a companion needs: the client's first name, the practice's and the
    therapist's contact, the delivery; never scores, notes, diagnoses or messages."""
    from django.utils import timezone

    from kapflow.courses.models import Course
    from kapflow.patients.models import CompanionCheckin
    from kapflow.scheduling.selectors import upcoming_for_companion

    companion = _companion(request, companion_id)
    course = (
        Course.objects.filter(client_id=companion.client_id, closed_at__isnull=True)
        .select_related("therapist__user")
        .first()
    )
    audit_record(
        actor=request.actor, action="companion.view", target=companion,
        client_id=companion.client_id,
    )  # fmt: skip
    confirm_form = CompanionConfirmForm(
        request.POST if request.POST.get("intent") == "confirm" else None,
        initial={code: companion.checklist.get(code, False) for code, _ in COMPANION_CHECKLIST},
    )
    checkin_form = CompanionCheckinForm(
        request.POST if request.POST.get("intent") == "checkin" else None
    )
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("intent") == "confirm":
                if not confirm_form.is_valid():
                    raise ValidationError({})
                patient_services.companion_confirm(
                    actor=request.actor, companion_id=companion.pk,
                    checklist=confirm_form.cleaned_data,
                )  # fmt: skip
                messages.success(request, "Thank you: the therapist can see you will be there.")
            elif request.POST.get("intent") == "checkin":
                if not checkin_form.is_valid():
                    raise ValidationError({})
                patient_services.companion_checkin_record(
                    actor=request.actor, companion_id=companion.pk, **checkin_form.cleaned_data
                )
                messages.success(request, "Check-in sent to the therapist.")
            else:
                raise Http404()
            return redirect("portal:companion", companion_id=companion.pk)
        except ValidationError as exc:
            add_errors(confirm_form if request.POST.get("intent") == "confirm" else checkin_form,
                       exc)  # fmt: skip
            status = 422
            companion.refresh_from_db()
    checkins = list(
        CompanionCheckin.objects.filter(companion=companion).order_by("-recorded_at")[:10]
    )
    return render(
        request,
        "portal/companion_detail.html",
        {
            "companion": companion,
            "course": course,
            "confirm_form": confirm_form,
            "checkin_form": checkin_form,
            "checkins": checkins,
            "at_home": course is not None and course.delivery == "at_home",
            "appointments": upcoming_for_companion(actor=request.actor, companion_id=companion.pk),
            "zone_name": timezone.get_current_timezone_name(),
        },
        status=status,
    )


def _own_record_for_report(request):
    if not policy.is_client_actor(request.actor):
        raise Http404()
    client = own_client_record(user=request.user)
    if client is None:
        raise Http404()
    return client


@login_required
def access_report(request):
    """'Who saw my information': the client's accounting of disclosures (HIPAA 164.528,
    decision 0037), then every access to the record, in words. A fixed number of queries
    whatever the number of lines."""
    from django.utils import timezone

    client = _own_record_for_report(request)
    accounting = client_accounting(client=client, zone_name=timezone.get_current_timezone_name())
    events = client_access_report(client_id=client.pk)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/access_report.html",
        {"page": page, "client": client, "accounting": accounting},
    )


@login_required
def access_report_pdf(request):
    """The client's own accounting of disclosures as a PDF (digest sent and audited)."""
    from django.utils import timezone

    from kapflow.audit.exports import export_response
    from kapflow.audit.pdf import render_accounting
    from kapflow.core import clock

    client = _own_record_for_report(request)
    accounting = client_accounting(client=client, zone_name=timezone.get_current_timezone_name())
    content = render_accounting(
        accounting,
        generated_by=request.user.full_name or request.user.email,
        generated_at=timezone.localtime(clock.now()),
    )
    return export_response(
        actor=request.actor,
        action="disclosure.accounting_export",
        body=content,
        content_type="application/pdf",
        filename="my-disclosures.pdf",
        target=client,
        client_id=client.pk,
    )
