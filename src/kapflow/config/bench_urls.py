"""The benchmark's URLconf (decision 0044): kapflow's URLs plus one bare view, the baseline
that `make bench` and `make bench-http` compare the API and the pages with.

Settings choose this URLconf only when KAPFLOW_BENCH_VIEWS is on; kapflow.config.urls, the
one production serves, never has the view. The view reads one client row by primary key
and returns it as JSON through the same middleware as every page, and nothing else: no
authentication, no tenancy, no audit row, which is what makes it a floor to measure against
and why it returns no personal data (ids, state and timestamps only).
"""

from django.http import JsonResponse
from django.urls import path

from kapflow.config.urls import urlpatterns as kapflow_urlpatterns
from kapflow.patients.models import Client

BASELINE_FIELDS = ("id", "organisation_id", "state", "created_at", "updated_at")


def baseline(request, pk: int):
    row = Client.objects.filter(pk=pk).values(*BASELINE_FIELDS).first()
    return JsonResponse(row or {}, status=200 if row else 404)


urlpatterns = [
    path("bench/baseline/<int:pk>", baseline, name="bench_baseline"),
    *kapflow_urlpatterns,
]
