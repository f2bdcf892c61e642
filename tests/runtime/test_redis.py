"""Two web processes that share no memory, only Redis (and the database): a session made on
one is valid on the other, a sign-in lockout counted on one holds on the other, sessions
never touch the database, and a task a page puts on the RQ queue is done by `kapflow worker`.

Each run uses its own empty Redis database (the `redis_url` fixture), so parallel runs do not
meet.
"""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.sessions.models import Session
from django.test import override_settings
from redis import Redis
from rq.job import Job, JobStatus

from kapflow.outbox.models import OutboxMessage
from tests.runtime import tasks
from tests.runtime.processes import (
    free_port,
    log_of,
    needs_postgresql,
    ready,
    redis_up,
    wait_http,
    wait_until,
)

pytestmark = [
    needs_postgresql(),
    pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379"),
    pytest.mark.process,
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "correct horse battery staple"


def set_password(user) -> None:
    # The processes run production's hashers; the test run's MD5 is not among them.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "runtimesalt", iterations=1000)
    user.save(update_fields=["password"])


class Browser:
    """One cookie jar for both servers (as behind a load balancer); no redirects followed."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect
        )

    def request(self, url, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=60) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()

    def sign_in(self, base, email, password):
        _, _, page = self.request(base + "/sign-in/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request(
            base + "/sign-in/",
            {"csrfmiddlewaretoken": token, "username": email, "password": password},
        )


# redis_url first: its teardown (emptying the database) then runs after the processes are gone.
def test_two_processes_share_sessions_lockouts_and_the_queue(redis_url, world, processes):
    redis = {
        "REDIS_URL": redis_url,
        "KAPFLOW_CACHE_PREFIX": f"kapflow-test-{uuid.uuid4().hex[:12]}",
    }
    ports = free_port(), free_port()
    servers = [processes.gunicorn(port, workers=1, **redis) for port in ports]
    worker = processes.kapflow("worker", **redis)  # starts while the servers do
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    for base, server in zip((a, b), servers, strict=True):
        wait_http(base, server)

    # A client (no MFA) signs in on A and is signed in on B.
    client_user = world.client_member.user
    set_password(client_user)
    browser = Browser()
    status, headers, _ = browser.sign_in(a, client_user.email, PASSWORD)
    assert status == 302, status
    status, _, page = browser.request(b + "/")
    assert status == 200
    assert "sign-in" not in urllib.parse.urlparse(headers.get("Location", "")).path
    assert Browser().request(b + "/")[0] == 302  # a stranger is sent to sign in
    assert not Session.objects.exists()  # sessions live in Redis only

    # Five wrong passwords on A lock the person out on B too (axes counts in the cache).
    target = world.therapist.user
    set_password(target)
    for _ in range(5):
        assert Browser().sign_in(a, target.email, "wrong password, wrong")[0] in (200, 429)
    status, _, page = Browser().sign_in(b, target.email, PASSWORD)
    assert status == 429, status

    # A page on A puts a task on the RQ queue; the worker takes it from Redis.
    reset = Browser().request(b + "/sign-in/")  # any page: proves B still serves
    assert reset[0] == 200
    browser = Browser()
    _, _, page = browser.request(a + "/password-reset/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    status, _, _ = browser.request(
        a + "/password-reset/", {"csrfmiddlewaretoken": token, "email": client_user.email}
    )
    assert status == 302

    # Two failing tasks through the same backend: a transient error is retried with the
    # backoff, any other fails at once.
    rq_settings = {
        "RQ_QUEUES": {"default": {"URL": redis_url}},
        "TASKS": {"default": {"BACKEND": "kapflow.runtime.backends.RQBackend"}},
    }
    with override_settings(**rq_settings):
        transient = tasks.transient_failure.enqueue("t")
        permanent = tasks.permanent_failure.enqueue("p")

    wait_until(
        lambda: OutboxMessage.objects.filter(
            recipient=client_user.email, subject="Reset your kapflow password"
        ).exists(),
        what=f"the reset e-mail\n{log_of(worker)[-2000:]}",
    )
    # /health/ready counts RQ's own worker registrations in Redis as heartbeats.
    wait_until(lambda: ready(a)[0] == 200, what="an RQ worker seen by /health/ready")
    connection = Redis.from_url(redis_url)
    wait_until(
        lambda: Job.fetch(permanent.id, connection=connection).get_status() == JobStatus.FAILED,
        what="the permanent failure",
    )
    retried = Job.fetch(transient.id, connection=connection)
    assert retried.get_status() == JobStatus.SCHEDULED  # again in 30 s
    assert retried.retries_left == 3
    assert retried.retry_intervals == [30, 120, 480, 1920]
    processes.stop_all()  # before the database is emptied: a live worker writes to it
