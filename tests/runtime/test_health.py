"""/health/live and /health/ready: no auth, no session, no audit row, JSON that names only
which check failed."""

import os
from datetime import timedelta

import pytest
from django.test import override_settings

from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.runtime.models import Heartbeat, ProcessKind
from tests.runtime.conftest import DB_BACKEND

pytestmark = pytest.mark.django_db
BROKEN_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    }
}


def test_live_answers_without_touching_the_database_or_the_session(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not response.cookies
    assert response["Cache-Control"] == "no-store"


def test_ready_with_tasks_in_the_request_needs_no_worker(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "worker": "ok"},
    }
    assert not AuditEvent.objects.exists()
    assert not response.cookies


@override_settings(TASKS=DB_BACKEND)
def test_ready_is_503_without_a_recent_worker_heartbeat(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "no recent heartbeat"
    assert response.json()["status"] == "unavailable"

    Heartbeat.objects.create(
        process_id="old",
        kind=ProcessKind.WORKER,
        host="h",
        pid=1,
        seen_at=clock.now() - timedelta(minutes=5),
    )
    assert client.get("/health/ready").status_code == 503
    # A scheduler's beat is not a worker's.
    Heartbeat.objects.create(process_id="s", kind=ProcessKind.SCHEDULER, host="h", pid=2)
    assert client.get("/health/ready").status_code == 503

    Heartbeat.objects.create(process_id="new", kind=ProcessKind.WORKER, host="h", pid=os.getpid())
    assert client.get("/health/ready").status_code == 200


@override_settings(CACHES=BROKEN_CACHE)
def test_ready_is_503_naming_the_cache_when_it_is_down(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "cache": "unreachable", "worker": "ok"}
    assert "127.0.0.1" not in response.content.decode()


def test_ready_is_503_naming_the_database_when_it_is_down(client, monkeypatch):
    from django.db import OperationalError, connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"
    assert "refused" not in response.content.decode()


@override_settings(ALLOWED_HOSTS=["kapflow.example"], SECURE_SSL_REDIRECT=True)
def test_probes_work_over_plain_http_with_any_host_header(client):
    """A load balancer probes the backend's address over HTTP: no redirect, no 400."""
    assert client.get("/health/live", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/health/ready/", HTTP_HOST="10.0.0.7:8000").status_code == 200
    # Everything else still gets the redirect to HTTPS.
    assert client.get("/sign-in/", HTTP_HOST="kapflow.example").status_code == 301


def test_other_methods_are_not_health_checks(client):
    assert client.post("/health/live").status_code in (403, 404, 405)
