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
