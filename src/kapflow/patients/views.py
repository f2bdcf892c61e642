"""Client pages: list (search, filters, paging), create, edit, detail with the care team,
and emergency access (open, end; the admins' report, review and revocation).

Searches are POSTed so that names never appear in URLs, browser history or access logs.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from kapflow import policy
from kapflow.core import clock, errors
from kapflow.core.errors import DomainError
from kapflow.core.form_tokens import form_token_exempt
from kapflow.core.views import add_errors, call_for_form, staff_actor
from kapflow.patients import selectors, services
from kapflow.patients.forms import (
    CareTeamAddForm,
    CareTeamRemoveForm,
    ClientCreateForm,
    ClientForm,
    ClientSearchForm,
    EmergencyAccessForm,
    EmergencyNoteForm,
)

# The list's state filter and sort, remembered per signed-in person in their session; the
# search term is posted and never remembered (decision 0052).
CLIENT_FILTERS = "clients.filters"
REMEMBERED = ("state", "sort")


@form_token_exempt  # the search, posted on every keystroke (decision 0038)
@login_required
def client_list(request):
    actor = staff_actor(request)
    if request.method == "POST":
        source = request.POST
    elif any(key in request.GET for key in (*REMEMBERED, "page", "q")):
        source = request.GET
    else:
        source = request.session.get(CLIENT_FILTERS) or {}
    form = ClientSearchForm(source)
    data = form.cleaned_data if form.is_valid() else {}
    remembered = {k: data[k] for k in REMEMBERED if data.get(k)}
    if request.session.get(CLIENT_FILTERS, {}) != remembered:
        request.session[CLIENT_FILTERS] = remembered
    query = selectors.ClientListQuery(
        search=data.get("q") or "",
        state=data.get("state") or "",
        sort=data.get("sort") or "name",
        page=data.get("page") or 1,
    )
    page = selectors.client_list(actor=actor, query=query)
    context = {
        "page": page,
        "form": form,
        "query": query,
        "can_create": policy.can_create_client(actor),
        "can_open_emergency": policy.can_open_emergency_access(actor),
    }
    if request.htmx and request.htmx.target == "client-results":
        return render(request, "patients/_client_results.html", context)
    return render(request, "patients/client_list.html", context)


@login_required
def client_create(request):
    actor = staff_actor(request)
    if not policy.can_create_client(actor):
        raise Http404()
    # A new client most often lives in the practice's own state (the form says which).
    form = ClientCreateForm(request.POST or None, initial={"state": actor.organisation.state})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        invite = data.pop("invite", False)
        try:
            client = services.client_create(actor=actor, data=data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Client created.")
            if invite and client.email:
                try:
                    services.client_portal_invite(actor=actor, client_id=client.pk)
                except (ValidationError, DomainError, errors.PermissionDenied) as exc:
                    messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
                else:
                    messages.success(request, "Portal invitation sent to the client's e-mail.")
            return redirect(client.get_absolute_url())
    return render(request, "patients/client_form.html", {"form": form, "creating": True})


@login_required
def client_edit(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    if not policy.can_edit_client(actor, client):
        raise PermissionDenied()
    form = ClientForm(request.POST or None, instance=client)
    if request.method == "POST" and form.is_valid():
        try:
            services.client_update(actor=actor, client_id=client.pk, data=form.cleaned_data)
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Changes saved.")
            return redirect(client.get_absolute_url())
    elif request.method == "GET":
        from kapflow.audit.services import audit_record

        audit_record(actor=actor, action="client.view", target=client, client_id=client.pk)
    return render(
        request, "patients/client_form.html", {"form": form, "creating": False, "client": client}
    )


def _detail_context(actor, client, add_form=None, remove_form=None, warning=None):
    clinicians = (
        policy.assignable_clinicians_queryset(actor, client)
        .select_related("user", "organisation")
        .prefetch_related("roles")
        .order_by("organisation__name", "user__full_name")
        if policy.can_manage_care_team(actor, client)
        else []
    )
    from kapflow.assessments.models import UrgentTask
    from kapflow.courses.forms import CourseOpenForm
    from kapflow.courses.selectors import courses_for_client

    return {
        "client": client,
        "urgent": list(UrgentTask.objects.filter(client=client, resolved_at__isnull=True))
        if policy.can_see_clinical(actor)
        else [],
        "can_see_clinical": policy.can_see_clinical(actor),
        "can_see_scores": policy.can_see_scores(actor, client),
        "can_list_notes": policy.can_list_notes(actor, client),
        "courses": courses_for_client(actor=actor, client_id=client.pk),
        "can_open_course": policy.can_open_course(actor, client),
        "open_form": CourseOpenForm(),
        "team": selectors.care_team_rows(
            client=client, today=clock.clinical_date(client.organisation)
        ),
        "can_edit": policy.can_edit_client(actor, client),
        "can_manage_team": policy.can_manage_care_team(actor, client),
        "add_form": add_form or CareTeamAddForm(clinicians=clinicians),
        "remove_form": remove_form or CareTeamRemoveForm(),
        "licence_warning": warning,
        "clinicians": clinicians,
        **_amendments_context(actor, client),
    }


def _amendments_context(actor, client) -> dict:
    """The client's requests to amend their record (decision 0035): every one in a table,
    those about the client's details in full beside them."""
    from kapflow.amendments import selectors as amendments

    rows = amendments.amendments_for_client(actor=actor, client=client)
    return {
        "can_read_amendments": amendments.can_read_client_amendments(actor, client),
        "amendments": rows,
        "part_amendments": [r for r in rows if r.part == "demographics" and not r.is_open],
    }


@login_required
def client_detail(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_get_for_actor(actor=actor, client_id=client_id)
    return render(request, "patients/client_detail.html", _detail_context(actor, client))


@login_required
@require_POST
def care_team_add(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    if not policy.can_manage_care_team(actor, client):
        raise PermissionDenied()
    context = _detail_context(actor, client)
    form = CareTeamAddForm(request.POST, clinicians=context["clinicians"])
    warning = None
    if form.is_valid():
        try:
            _, findings = services.care_team_add(
                actor=actor,
                client_id=client.pk,
                membership_id=int(form.cleaned_data["membership"]),
                role=form.cleaned_data["role"],
                is_primary=form.cleaned_data["is_primary"],
                acknowledge_warnings=form.cleaned_data["acknowledge_warnings"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        except DomainError as exc:
            warning = exc.message
        else:
            if findings:
                messages.warning(request, "Assigned with a licensure warning recorded.")
            else:
                messages.success(request, "Added to the care team.")
            return redirect(client.get_absolute_url())
    if warning:
        form = CareTeamAddForm(
            request.POST, clinicians=context["clinicians"], show_acknowledge=True
        )
        form.is_valid()
        form.add_error("acknowledge_warnings", "Tick this box to assign despite the warning.")
    context = _detail_context(actor, client, add_form=form, warning=warning)
    return render(request, "patients/client_detail.html", context, status=422)


@login_required
@require_POST
def care_team_remove(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.client_get_for_actor(actor=actor, client_id=client_id, audit_action="")
    form = CareTeamRemoveForm(request.POST)
    if form.is_valid():
        try:
            services.care_team_remove(
                actor=actor,
                client_id=client.pk,
                member_id=form.cleaned_data["member_id"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, "Removed from the care team.")
            return redirect(client.get_absolute_url())
    context = _detail_context(actor, client, remove_form=form)
    return render(request, "patients/client_detail.html", context, status=422)


@login_required
@require_POST
def portal_invite(request, client_id: int):
    """Invite the client to their portal (e-mail on the record)."""
    actor = staff_actor(request)
    try:
        services.client_portal_invite(actor=actor, client_id=client_id)
    except errors.NotFound:
        raise
    except errors.PermissionDenied as exc:
        raise PermissionDenied(exc.message) from exc
    except (ValidationError, DomainError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, "Portal invitation sent to the client's e-mail address.")
    return redirect("patients:detail", client_id=client_id)


# ---- emergency access (decision 0036) -------------------------------------------------------


@login_required
def emergency_access(request):
    """Open emergency access to one client of the practice: an exact identity, a reason code
    and an explanation. Posted, so names never enter the URL."""
    actor = staff_actor(request)
    if not policy.can_open_emergency_access(actor):
        raise Http404()
    form = EmergencyAccessForm(request.POST or None)
    status = 200
    if request.method == "POST":
        grant = None
        if form.is_valid():
            grant = call_for_form(
                form, services.emergency_access_open, actor=actor, **form.cleaned_data
            )
        if grant is not None:
            messages.warning(
                request,
                "Emergency access is open. Everything you open in this record is listed for "
                "your practice admins' review.",
            )
            return redirect("patients:detail", client_id=grant.client_id)
        status = 422
    return render(
        request,
        "patients/emergency_access.html",
        {"form": form, "grants": _live_grants(request)},
        status=status,
    )


def _live_grants(request) -> list:
    now = clock.now()
    return [g for g in selectors.emergency_grants_for_request(request) if g.is_active(now)]


@login_required
@require_POST
def emergency_access_end(request, grant_id: int):
    """The clinician ends their own emergency access."""
    actor = staff_actor(request)
    services.emergency_access_end(actor=actor, grant_id=grant_id)
    messages.success(request, "Emergency access ended.")
    return redirect("home")


@login_required
def emergency_report(request):
    """The practice admins' report of every emergency access, not yet reviewed first."""
    actor = staff_actor(request)
    if policy.can_review_emergency_access(actor):
        services.emergency_access_close_lapsed(organisation_id=actor.organisation_id)
    unreviewed = request.GET.get("show") == "unreviewed"
    page = selectors.emergency_access_list(
        actor=actor, unreviewed=unreviewed, page=request.GET.get("page") or 1
    )
    return render(
        request,
        "patients/emergency_report.html",
        {"page": page, "unreviewed": unreviewed, "now": clock.now()},
    )


def _emergency_detail(request, actor, grant_id, *, review_form=None, revoke_form=None, status=200):
    grant, trail = selectors.emergency_access_detail(actor=actor, grant_id=grant_id)
    context = {
        "grant": grant,
        "trail": trail,
        "active": grant.is_active(clock.now()),
        "review_form": review_form or EmergencyNoteForm(prefix="review"),
        "revoke_form": revoke_form or EmergencyNoteForm(prefix="revoke"),
    }
    return render(request, "patients/emergency_detail.html", context, status=status)


@login_required
def emergency_detail(request, grant_id: int):
    """One emergency access: who, which client, why, when, and what was read under it."""
    actor = staff_actor(request)
    if policy.can_review_emergency_access(actor):
        services.emergency_access_close_lapsed(organisation_id=actor.organisation_id)
    return _emergency_detail(request, actor, grant_id)


@login_required
@require_POST
def emergency_review(request, grant_id: int):
    actor = staff_actor(request)
    form = EmergencyNoteForm(request.POST, prefix="review")
    if form.is_valid() and call_for_form(
        form, services.emergency_access_review, actor=actor, grant_id=grant_id,
        note=form.cleaned_data["note"],
    ):  # fmt: skip
        messages.success(request, "Marked reviewed.")
        return redirect("patients:emergency_detail", grant_id=grant_id)
    return _emergency_detail(request, actor, grant_id, review_form=form, status=422)


@login_required
@require_POST
def emergency_revoke(request, grant_id: int):
    actor = staff_actor(request)
    form = EmergencyNoteForm(request.POST, prefix="revoke")
    if form.is_valid() and call_for_form(
        form, services.emergency_access_revoke, actor=actor, grant_id=grant_id,
        note=form.cleaned_data["note"],
    ):  # fmt: skip
        messages.success(request, "Emergency access revoked.")
        return redirect("patients:emergency_detail", grant_id=grant_id)
    return _emergency_detail(request, actor, grant_id, revoke_form=form, status=422)
