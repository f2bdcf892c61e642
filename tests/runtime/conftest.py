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


@pytest.fixture
def redis_url():
    """An empty Redis database of our own (15 down to 9), emptied again afterwards: the RQ
    queue's keys carry no prefix, so parallel runs must not share a database."""
    import redis

    for number in range(15, 8, -1):
        client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}")
        if client.dbsize() == 0 and client.set("kapflow-test-claim", "1", nx=True):
            yield f"redis://127.0.0.1:6379/{number}"
            client.flushdb()
            return
    pytest.skip("no empty Redis database between 9 and 15")
