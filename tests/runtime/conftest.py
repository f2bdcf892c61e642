import pytest
from django.test import override_settings

DB_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def db_tasks():
    """Tasks go to the database queue, as in production, instead of running at once."""
    with override_settings(TASKS=DB_BACKEND):
        yield


@pytest.fixture
def processes(tmp_path):
    """Start real kapflow processes; every one is stopped at the end of the test."""
    from tests.runtime.processes import Processes

    started = Processes(tmp_path)
    yield started
    started.stop_all()


CLAIM_KEY = "kapflow-test-claim"
CLAIM_SECONDS = 3600  # a run killed before its teardown frees its database within the hour


@pytest.fixture
def redis_url():
    """An empty Redis database of our own (15 down to 9), emptied again afterwards: the RQ
    queue's keys carry no prefix, so parallel runs must not share a database. The claim
    expires, so a killed run does not keep its database for ever; with Redis up and no
    database free the test fails instead of skipping (KAPFLOW_TEST_ALLOW_NO_REDIS=1 skips)."""
    import os

    import redis

    for number in range(15, 8, -1):
        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}")
        try:
            free = client.dbsize() == 0
        except redis.exceptions.ConnectionError:
            pytest.skip("no Redis on 127.0.0.1:6379")
        if free and client.set(CLAIM_KEY, "1", nx=True, ex=CLAIM_SECONDS):
            yield f"redis://127.0.0.1:6379/{number}"
            client.flushdb()
            return
    message = "no empty Redis database between 9 and 15 (another run's, or a killed run's claim)"
    if os.environ.get("KAPFLOW_TEST_ALLOW_NO_REDIS"):
        pytest.skip(message)
    pytest.fail(message)
