"""SQLite care (decision 0043): statistics after migrate and nightly, and the notice, the
system check and the signs that an installation has outgrown SQLite."""

import os
import time

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import OperationalError, connection

from kapflow.core import sqlite
from kapflow.core.tasks import sqlite_optimize_task
from kapflow.runtime.schedule import jobs
from tests.conftest import sign_in
from tests.patients.factories import ClientFactory

only_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")


@only_sqlite
def test_optimize_gives_the_planner_statistics(world):
    for _ in range(3):
        ClientFactory(organisation=world.practice)
    assert sqlite.optimize() >= 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'patients_client'")
        assert cursor.fetchone()[0] > 0


def test_migrate_runs_it_once_not_once_per_app(db, monkeypatch):
    calls = []
    monkeypatch.setattr(sqlite, "optimize", lambda *, using="default": calls.append(using))
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert calls == ["default"]


def test_the_scheduler_runs_it_nightly_on_sqlite_only(db):
    (job,) = [job for job in jobs() if job.name == "sqlite_optimize"]
    assert job.every.days == 1
    results = job.enqueue()
    assert len(results) == (1 if connection.vendor == "sqlite" else 0)
    # The task itself does nothing on PostgreSQL.
    assert sqlite_optimize_task.call()["seconds"] >= 0


@pytest.fixture
def on_sqlite_file(tmp_path, monkeypatch):
    """An installation on a SQLite file (the test database may be another engine, or in
    memory): the file and its lock mark live in tmp_path."""
    path = tmp_path / "kapflow.sqlite3"
    path.write_bytes(b"")
    monkeypatch.setattr(sqlite, "is_sqlite", lambda using="default": True)
    monkeypatch.setattr(sqlite, "database_file", lambda using="default": path)
    cache.delete("kapflow:sqlite-outgrown")
    yield path
    cache.delete("kapflow:sqlite-outgrown")


def test_a_small_installation_has_not_outgrown_sqlite(world, on_sqlite_file):
    assert sqlite.outgrown() == []
    assert sqlite.check_sqlite_outgrown() == []


def test_more_clients_than_the_threshold(world, on_sqlite_file, monkeypatch):
    monkeypatch.setattr(sqlite, "OUTGROWN_CLIENTS", 2)  # the world has three
    (reason,) = sqlite.outgrown()
    assert "3 client records" in reason
    (warning,) = sqlite.check_sqlite_outgrown()
    assert warning.id == "core.W001" and "copy_to_postgres" in warning.hint


def test_a_file_over_1_gb(world, on_sqlite_file):
    with open(on_sqlite_file, "r+b") as f:
        f.truncate(sqlite.OUTGROWN_BYTES + 1)  # sparse: no gigabyte is written
    assert any("1.0 GB" in reason for reason in sqlite.outgrown())


def test_a_write_that_gave_up_on_the_lock_counts_for_30_days(world, on_sqlite_file):
    assert not sqlite.lock_timeout_record(OperationalError("no such table: x"))
    assert sqlite.lock_timeout_record(OperationalError("database is locked"))
    assert any("database is locked" in reason for reason in sqlite.outgrown())
    mark = on_sqlite_file.with_name(on_sqlite_file.name + sqlite.LOCK_MARK_SUFFIX)
    long_ago = time.time() - 31 * 86400
    os.utime(mark, (long_ago, long_ago))
    assert sqlite.outgrown() == []


def test_a_page_that_failed_on_the_lock_is_recorded(world, on_sqlite_file):
    try:
        raise OperationalError("database is locked")
    except OperationalError:
        sqlite.on_request_exception(sender=None)
    assert on_sqlite_file.with_name(on_sqlite_file.name + sqlite.LOCK_MARK_SUFFIX).exists()


def test_the_practice_admin_sees_the_notice_and_no_one_else(
    client, world, on_sqlite_file, monkeypatch
):
    monkeypatch.setattr(sqlite, "OUTGROWN_CLIENTS", 2)
    sign_in(client, world.admin.user)
    html = client.get("/").content.decode()
    assert 'data-testid="sqlite-outgrown-notice"' in html
    assert "Moving from SQLite to PostgreSQL" in html
    sign_in(client, world.therapist.user)
    assert 'data-testid="sqlite-outgrown-notice"' not in client.get("/").content.decode()


def test_manage_py_check_shows_the_warning(world, on_sqlite_file, monkeypatch, capsys):
    monkeypatch.setattr(sqlite, "OUTGROWN_CLIENTS", 2)
    call_command("check")
    captured = capsys.readouterr()
    assert "core.W001" in captured.err + captured.out


def test_postgresql_and_memory_databases_are_never_outgrown(db, monkeypatch):
    monkeypatch.setattr(sqlite, "is_sqlite", lambda using="default": False)
    assert sqlite.database_file() is None and sqlite.outgrown() == []
    assert sqlite.optimize() == 0.0
