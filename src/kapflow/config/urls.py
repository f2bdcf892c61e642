from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django_otp.admin import OTPAdminSite

from kapflow.api import api
from kapflow.assessments.views import link_fill
from kapflow.dashboard.views import home

# Platform staff only, and only after MFA: the admin site itself checks the OTP session.
admin.site.__class__ = OTPAdminSite
admin.site.site_header = "kapflow platform administration"


def favicon(request):
    """Browsers and feed readers ask for /favicon.ico whatever a page links (base.html)."""
    return HttpResponsePermanentRedirect(static("kapflow/favicon.ico"))


urlpatterns = [
    path("", home, name="home"),
    path("", include("kapflow.accounts.urls")),
    path("clients/", include("kapflow.patients.urls")),
    path("courses/", include("kapflow.courses.urls")),
    path("assessments/", include("kapflow.assessments.urls")),
    path("outcomes/", include("kapflow.outcomes.urls")),
    path("prescribing/", include("kapflow.prescriptions.urls")),
    path("consents/", include("kapflow.consents.urls")),
    path("journal/", include("kapflow.journal.urls")),
    path("alerts/", include("kapflow.alerts.urls")),
    path("messages/", include("kapflow.messaging.urls")),
    path("schedule/", include("kapflow.scheduling.urls")),
    path("sessions/", include("kapflow.encounters.urls")),
    path("telehealth/", include("kapflow.telehealth.urls")),
    path("notes/", include("kapflow.notes.urls")),
    path("amendments/", include("kapflow.amendments.urls")),
    path("billing/", include("kapflow.billing.urls")),
    path("", include("kapflow.directory.urls")),
    path("q/<str:token>/", link_fill, name="assessment_link"),
    path("audit/", include("kapflow.audit.urls")),
    path("me/", include("kapflow.portal.urls")),
    path("outbox/", include("kapflow.outbox.urls")),
    path("notifications/", include("kapflow.notifications.urls")),
    path("search/", include("kapflow.search.urls")),
    # Browsers and feed readers ask for /favicon.ico whatever the page links.
    path("favicon.ico", favicon),
    path("api/v1/", api.urls),
    path("fhir/R4/", include("kapflow.fhir.urls")),
    path("me/record/", include("kapflow.fhir.portal_urls")),
    path("platform-admin/", admin.site.urls),
]
