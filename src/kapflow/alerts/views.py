"""Alert pages: the reaction report (client, or companion for a client), the companion's
"need help now" button, the page that tells the reporter what to do now, and for staff the
open alerts, one alert with its acknowledgement, and the banner the course page can poll.

Thin: who may report is kapflow.policy.alert_raiser_role (through the selectors); everything
else is the services'. The reporter's pages never promise a reply time.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.alerts import selectors, services
from kapflow.alerts.forms import AcknowledgeForm, ReactionForm
from kapflow.alerts.models import AlertKind
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.views import add_errors, call_for_form, staff_actor


@login_required
@require_http_methods(["GET", "POST"])
def report(request, client_id: int | None = None):
    actor = request.actor
    client, role = selectors.client_for_reporter(actor=actor, client_id=client_id)
    form = ReactionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        answers = {
            "symptoms": data["symptoms"],
            "bp_systolic": data["bp_systolic"],
            "bp_diastolic": data["bp_diastolic"],
        }
        alert = call_for_form(
            form, services.alert_raise, actor=actor, client_id=client.pk,
            kind=AlertKind.REACTION, answers=answers, note=data["note"],
        )  # fmt: skip
        if alert is not None:
            return redirect("alerts:sent", alert_id=alert.pk)
    return render(
        request,
        "alerts/report.html",
        {"form": form, "client": client, "role": role},
        status=422 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def help_now(request, client_id: int):
    actor = request.actor
    client, role = selectors.client_for_reporter(actor=actor, client_id=client_id)
    if request.method == "POST":
        alert = services.alert_raise(
            actor=actor, client_id=client.pk, kind=AlertKind.HELP_NOW, answers={}
        )
        return redirect("alerts:sent", alert_id=alert.pk)
    return render(request, "alerts/help.html", {"client": client, "role": role})


@login_required
def sent(request, alert_id: int):
    alert = selectors.alert_get_for_reporter(actor=request.actor, alert_id=alert_id)
    return render(
        request,
        "alerts/sent.html",
        {"alert": alert, "advice": selectors.reporter_advice(alert)},
    )


# ---- staff ----------------------------------------------------------------------------------


@login_required
def alert_list(request):
    actor = staff_actor(request)
    if not policy.can_see_clinical(actor):
        raise NotFound()
    return render(request, "alerts/list.html", {"alerts": selectors.open_alerts(actor=actor)})


def _detail(request, actor, alert_id: int, form, *, status=200):
    alert = selectors.alert_get_for_actor(actor=actor, alert_id=alert_id)
    return render(
        request,
        "alerts/detail.html",
        {"alert": alert, "symptoms": selectors.symptom_labels(alert), "form": form},
        status=status,
    )


@login_required
def detail(request, alert_id: int):
    actor = staff_actor(request)
    return _detail(request, actor, alert_id, AcknowledgeForm())


@login_required
@require_POST
def acknowledge(request, alert_id: int):
    actor = staff_actor(request)
    form = AcknowledgeForm(request.POST)
    form.is_valid()
    try:
        services.alert_acknowledge(
            actor=actor, alert_id=alert_id, note=request.POST.get("note", "")
        )
    except ValidationError as exc:
        add_errors(form, exc)
        return _detail(request, actor, alert_id, form, status=422)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, "Alert acknowledged.")
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("alerts:detail", alert_id=alert_id)


@login_required
def course_banner(request, course_id: int):
    """The open alerts of a course as the banner partial, for the session screen to poll."""
    actor = staff_actor(request)
    course = selectors.course_for_alerts(actor=actor, course_id=course_id)
    alerts = selectors.open_alerts_for_course(actor=actor, course=course)
    # After acknowledging, go back to the course page, not to this fragment.
    return render(
        request,
        "alerts/_banner.html",
        {"alerts": alerts, "next": reverse("courses:detail", args=[course.pk])},
    )
