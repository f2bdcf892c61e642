"""Two writers on one SQLite file, as `make serve` runs web, worker and scheduler processes:
with the options settings.py gives a file database, the second writer waits for the first
instead of failing with "database is locked"; with SQLite's defaults it fails at once.

Each writer reads, then writes, in one transaction, the shape of every service (read the
row, check the rule, write). Under BEGIN DEFERRED both take a read lock, and the second to
write cannot upgrade it while the other holds one: SQLite gives up without waiting."""

import contextlib
import sqlite3
import threading

import pytest
from django.db import connections, transaction
from django.db.utils import OperationalError

from tests.runtime.test_settings import PRODUCTION, load


def _production_options(monkeypatch) -> dict:
    return load(monkeypatch, **PRODUCTION)["DATABASES"]["default"]["OPTIONS"]


@pytest.fixture
def file_database(tmp_path, django_db_blocker):
    """Register aliases on a file database with the given options; close them after. Not
    the test database: these connections are the test's own, so the blocker lets them be."""
    path = tmp_path / "kapflow.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        db.execute("INSERT INTO counter VALUES (1, 0)")
    added = []

    def alias(name: str, options: dict) -> str:
        connections.settings[name] = {
            **connections.settings["default"],
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {**options, "timeout": 5},
            "TEST": {"NAME": str(path)},
        }
        added.append(name)
        return name

    with django_db_blocker.unblock():
        yield path, alias
    for name in added:
        for conn in connections.all(initialized_only=True):
            if conn.alias == name:
                conn.close()
        del connections.settings[name]
        if hasattr(connections._connections, name):
            delattr(connections._connections, name)


def _race(alias: str) -> list[BaseException]:
    """Two threads: each reads the counter, waits for the other to have read, and adds one."""
    both_read = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def writer():
        try:
            with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                cursor.execute("SELECT n FROM counter WHERE id = 1")
                n = cursor.fetchone()[0]
                # Under IMMEDIATE the other is still waiting to begin: go on after a second.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait(timeout=1)
                cursor.execute("UPDATE counter SET n = %s WHERE id = 1", [n + 1])
        except Exception as exc:
            errors.append(exc)
        finally:
            connections[alias].close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def _counter(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]


def test_a_file_database_runs_in_wal_mode_with_immediate_transactions(monkeypatch):
    options = _production_options(monkeypatch)
    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]


def test_with_the_production_options_the_second_writer_waits(monkeypatch, file_database):
    path, alias = file_database
    options = _production_options(monkeypatch)
    name = alias("sqlite_production", options)

    errors = _race(name)

    assert errors == []
    # Each transaction read the other's committed value: no lost update either.
    assert _counter(path) == 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_with_sqlites_defaults_the_second_writer_fails_at_once(file_database):
    """The case the options exist for: proves the race above is a real one."""
    path, alias = file_database
    name = alias("sqlite_defaults", {})

    errors = _race(name)

    assert len(errors) == 1
    assert isinstance(errors[0], OperationalError)
    assert "database is locked" in str(errors[0])
    assert _counter(path) == 1
