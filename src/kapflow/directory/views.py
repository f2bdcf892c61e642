"""Directory pages. Public ones (search, profiles, pre-screen, request, the e-mailed link)
need no sign-in and show only published profiles; the practice's pages (profile editor,
inquiries, funnel) are signed-in and ask the policy through the selectors and services."""

import json
import re
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kapflow import policy
from kapflow.accounts.middleware import client_ip
from kapflow.clinical import directory as rules
from kapflow.core import clock
from kapflow.core.errors import NotFound
from kapflow.core.views import call_for_form, staff_actor
from kapflow.directory import forms, jsonld, selectors, services
from kapflow.directory.models import InquiryStatus
from kapflow.scheduling.selectors import rooms_list

PRESCREEN_SALT = "kapflow.directory.prescreen"


def _ld(data: dict) -> str:
    """JSON for a <script type="application/ld+json">: <, > and & escaped, so a bio can never
    close the script element."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def search(request):
    form = forms.SearchForm(request.GET or None)
    result = None
    if request.GET:
        form.is_valid()
        data = {**form.cleaned_data} if hasattr(form, "cleaned_data") else {}
        params = selectors.SearchParams(
            mode=data.get("mode") or "near",
            zip_code=data.get("zip_code") or "",
            radius=data.get("radius") or rules.DEFAULT_RADIUS,
            city=data.get("city") or "",
            state=data.get("state") or "",
            q=data.get("q") or "",
            modality=data.get("modality") or "",
            condition=data.get("condition") or "",
            insurance=data.get("insurance") or "",
            price_max=data.get("price_max"),
            accepting=bool(data.get("accepting")),
            sort=data.get("sort") or "",
            page=_int(request.GET.get("page"), 1),
        )
        if not form.errors:
            result = selectors.search(params)
            for field, message in result.errors.items():
                form.add_error(field if field in form.fields else None, message)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "directory/search.html",
        {"form": form, "result": result, "query": query.urlencode()},
    )


def practice(request, slug: str):
    found = selectors.practice_public(slug=slug)
    return render(
        request,
        "directory/practice.html",
        {"practice": found, "jsonld": _ld(jsonld.practice(found, request))},
    )


def clinician(request, slug: str):
    found = selectors.clinician_public(slug=slug)
    slots = selectors.slots_for(found)
    # A signed pre-screen digest travels on to the request links, never the answers.
    carried = request.GET.get("prescreen", "")
    carry = urlencode({"prescreen": carried}) if _read_prescreen(carried) else ""
    return render(
        request,
        "directory/clinician.html",
        {
            "clinician": found,
            "slots": slots,
            "carry": carry,
            "jsonld": _ld(jsonld.clinician(found, request)),
        },
    )


@require_http_methods(["GET", "POST"])
def prescreen(request):
    """Nothing is stored: the answers are read, the guidance shown, and only a signed digest
    of the guidance (fit, topics, finding codes) travels to the request form, if the person
    goes on to send one."""
    form = forms.PrescreenForm(request.POST or None)
    guidance = None
    signed = ""
    if request.method == "POST" and form.is_valid():
        answers = form.answers()
        today = selectors.today_in_state(answers.state)
        guidance = rules.prescreen(answers, today=today)
        signed = signing.dumps(guidance.as_dict(), salt=PRESCREEN_SALT)
    return render(
        request,
        "directory/prescreen.html",
        {
            "form": form,
            "guidance": guidance,
            "signed": signed,
            "clinician_slug": request.GET.get("for", ""),
        },
    )


def _read_prescreen(value: str) -> dict:
    if not value:
        return {}
    try:
        return signing.loads(value, salt=PRESCREEN_SALT, max_age=60 * 60 * 24)
    except signing.BadSignature:
        return {}


def _source(value: str) -> str:
    """Where the person came from, for the funnel (`?source=` on the link a practice shares):
    lower-case letters, digits, - and _ only; else "directory"."""
    value = (value or "").strip().lower()[:40]
    return value if re.fullmatch(r"[a-z0-9_-]+", value) else "directory"


def _parse_slot(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else None


@require_http_methods(["GET", "POST"])
def request_consultation(request, slug: str):
    found = selectors.clinician_public(slug=slug)
    initial = {
        "slot": request.GET.get("slot", ""),
        "joint": request.GET.get("joint") == "1",
        "prescreen": request.GET.get("prescreen", ""),
    }
    form = forms.RequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        slot = _parse_slot(data.get("slot") or "")
        if data.get("slot") and slot is None:
            form.add_error(None, "That time is not valid. Please choose one from the profile.")
        else:
            inquiry = call_for_form(
                form,
                services.inquiry_submit,
                clinician_slug=slug,
                data={**request.POST.dict(), "date_of_birth": data["date_of_birth"]},
                prescreen=_read_prescreen(data.get("prescreen") or ""),
                slot_starts_at=slot,
                joint=bool(data.get("joint")),
                address=client_ip(request) or "",
                source=_source(request.GET.get("source", "")),
            )
            if inquiry is not None:
                return redirect("directory:request_sent")
    slot = _parse_slot(form["slot"].value() or "")
    return render(
        request,
        "directory/request.html",
        {"clinician": found, "form": form, "slot": slot, "joint": form["joint"].value()},
    )


def request_sent(request):
    return render(request, "directory/request_sent.html")


@require_http_methods(["GET", "POST"])
def manage_request(request, token: str):
    """The e-mailed link: confirm, cancel or move. The token is opaque; the page names the
    practice and the time, never the person."""
    inquiry = selectors.inquiry_by_token(token=token)
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "confirm":
                inquiry = services.inquiry_confirm(token=token)
                messages.success(request, "Thank you: your request is confirmed.")
            elif action == "cancel":
                inquiry = services.inquiry_cancel(token=token)
                messages.success(request, "Your request is cancelled.")
            elif action == "move":
                slot = _parse_slot(request.POST.get("slot", ""))
                if slot is None:
                    raise services.SlotTaken("Choose one of the times shown.", field="slot")
                inquiry = services.inquiry_move(token=token, slot_starts_at=slot)
                messages.success(request, "Your time is changed.")
            else:
                error = "Choose confirm, cancel or move."
        except services.DomainError as exc:
            error = exc.message
        if not error:
            return redirect("directory:manage_request", token=token)
    inquiry = selectors.inquiry_by_token(token=token)
    slots = None
    if inquiry.status in (InquiryStatus.PENDING, InquiryStatus.CONFIRMED):
        slots = selectors.slots_for(inquiry.clinician)
    return render(
        request,
        "directory/manage_request.html",
        {"inquiry": inquiry, "slots": slots, "error": error, "token": token},
    )


# ---- the practice's side ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def manage(request):
    actor = staff_actor(request)
    if not policy.can_manage_directory(actor):
        raise NotFound()
    profile = selectors.practice_profile_for_actor(actor=actor)
    partners = _partners(actor)
    initial = {}
    if profile is not None:
        initial = {
            k: getattr(profile, k)
            for k in (
                "display_name",
                "bio",
                "phone",
                "website",
                "street",
                "city",
                "state",
                "zip_code",
                "online_only",
                "published",
            )
        } | {"partner_id": profile.partner_id}
    else:
        initial = {"display_name": actor.organisation.name, "state": actor.organisation.state}
    form = forms.PracticeProfileForm(request.POST or None, initial=initial, partners=partners)
    if request.method == "POST" and form.is_valid():
        saved = call_for_form(
            form, services.practice_profile_save, actor=actor, data=form.cleaned_data
        )
        if saved is not None:
            messages.success(request, "The practice's profile is saved.")
            return redirect("directory:manage")
    members = _clinician_members(actor)
    return render(
        request,
        "directory/manage.html",
        {"form": form, "profile": profile, "members": members},
    )


def _partners(actor):
    from kapflow.accounts.models import Organisation, Partnership

    return Organisation.objects.filter(
        pk__in=Partnership.objects.filter(practice=actor.organisation).values("partner_id")
    ).order_by("name")


def _clinician_members(actor):
    from kapflow.accounts.models import CLINICIAN_ROLES, Membership

    return list(
        Membership.objects.filter(
            organisation=actor.organisation, is_active=True, roles__role__in=CLINICIAN_ROLES
        )
        .select_related("user", "directory_profile")
        .distinct()
        .order_by("user__full_name", "pk")
    )


@login_required
@require_http_methods(["GET", "POST"])
def manage_clinician(request, membership_id: int):
    from kapflow.accounts.models import Membership, Role

    actor = staff_actor(request)
    if not policy.can_manage_directory(actor):
        raise NotFound()
    member = next((m for m in _clinician_members(actor) if m.pk == membership_id), None)
    if member is None:
        raise NotFound()
    profile = getattr(member, "directory_profile", None)
    partner_ids = list(_partners(actor).values_list("pk", flat=True))
    prescribers = (
        Membership.objects.filter(
            organisation_id__in=[actor.organisation_id, *partner_ids],
            is_active=True,
            roles__role=Role.PRESCRIBER,
        )
        .select_related("user", "organisation")
        .distinct()
        .order_by("user__full_name", "pk")
    )
    if profile is not None:
        initial = {
            "display_name": profile.display_name,
            "credentials": profile.credentials,
            "bio": profile.bio,
            "modalities": profile.modality_list(),
            "conditions": profile.condition_list(),
            "insurance": profile.insurance_list(),
            "languages": profile.language_list(),
            "price_min": profile.price_min,
            "price_max": profile.price_max,
            "accepting_new": profile.accepting_new,
            "in_person": profile.in_person,
            "telehealth": profile.telehealth,
            "partner_prescriber_id": profile.partner_prescriber_id,
            "published": profile.published,
        }
    else:
        initial = {
            "display_name": member.user.full_name,
            "credentials": member.title,
            "accepting_new": True,
            "in_person": True,
            "telehealth": True,
            "languages": ["en"],
        }
    form = forms.ClinicianProfileForm(
        request.POST or None, initial=initial, prescribers=prescribers
    )
    if request.method == "POST" and form.is_valid():
        saved = call_for_form(
            form,
            services.clinician_profile_save,
            actor=actor,
            membership_id=member.pk,
            data=form.cleaned_data,
        )
        if saved is not None:
            messages.success(request, "The clinician's profile is saved.")
            return redirect("directory:manage")
    return render(
        request,
        "directory/manage_clinician.html",
        {"form": form, "member": member, "profile": profile},
    )


@login_required
def inquiries(request):
    actor = staff_actor(request)
    status = request.GET.get("status", "")
    if status not in InquiryStatus.values:
        status = ""
    rows = selectors.inquiry_list(actor=actor, status=status)
    return render(
        request,
        "directory/inquiries.html",
        {"rows": rows, "status": status, "statuses": InquiryStatus.choices},
    )


@login_required
@require_http_methods(["GET", "POST"])
def inquiry(request, inquiry_id: int):
    actor = staff_actor(request)
    found = selectors.inquiry_get_for_actor(actor=actor, inquiry_id=inquiry_id)
    booking = request.method == "POST" and request.POST.get("op") == "book"
    form = forms.InquiryActionForm(None if booking else request.POST or None)
    book_form = forms.InquiryBookForm(
        request.POST if booking else None,
        rooms=rooms_list(organisation_id=found.organisation_id, active_only=True),
    )
    if booking and book_form.is_valid():
        done = call_for_form(
            book_form,
            services.inquiry_book,
            actor=actor,
            inquiry_id=found.pk,
            room_id=book_form.cleaned_data["room"],
            confirm=book_form.cleaned_data["confirm"],
        )
        if done is not None:
            messages.success(request, "The consultation is booked on the schedule.")
            return redirect("directory:inquiry", inquiry_id=found.pk)
    elif request.method == "POST" and not booking and form.is_valid():
        done = call_for_form(
            form,
            services.inquiry_update,
            actor=actor,
            inquiry_id=found.pk,
            action=form.cleaned_data["action"],
            reason=form.cleaned_data["reason"],
        )
        if done is not None:
            messages.success(request, "The inquiry is updated.")
            return redirect("directory:inquiry", inquiry_id=found.pk)
    from kapflow.audit.services import audit_record

    audit_record(
        actor=actor,
        action="directory.inquiry_view",
        target=found,
        client_id=found.course.client_id if found.course_id else None,
    )
    return render(
        request,
        "directory/inquiry.html",
        {
            "inquiry": found,
            "form": form,
            "book_form": book_form,
            "bookable": found.status in services.BOOKABLE_STATUSES and found.slot_starts_at,
            "now": clock.now(),
        },
    )


@login_required
def funnel(request):
    actor = staff_actor(request)
    rows = selectors.funnel(actor=actor)
    return render(request, "directory/funnel.html", {"rows": rows})
