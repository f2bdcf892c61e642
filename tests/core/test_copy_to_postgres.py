"""`kapflow copy_to_postgres` (decision 0043), as an operator runs it: a SQLite installation
with records is copied into a PostgreSQL database of our own (`kapflow_copy_to_postgres_test_<pid>`,
made and dropped here, on KAPFLOW_COPY_TEST_SERVER, default postgres://postgres@127.0.0.1:5432).
An unmigrated target is refused; a copy that fails half-way (a name longer than its column,
which SQLite never checked) leaves the target empty; the copy holds every row of every table
with its id, sequences continue after them, the audit chain verifies there, encrypted seeds
open; and a target that holds data is refused."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.process

SERVER = os.environ.get("KAPFLOW_COPY_TEST_SERVER", "postgres://postgres@127.0.0.1:5432")
NAME = f"kapflow_copy_to_postgres_test_{os.getpid()}"  # two runs at once do not collide
TARGET = f"{SERVER}/{NAME}"
ROOT = Path(__file__).resolve().parents[2]
SEED = "from kapflow.accounts.models import AuthenticatorDevice as D; print(D.objects.get().key)"


def _admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


@pytest.fixture
def target():
    try:
        _admin(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL server to copy into")
    _admin(f"CREATE DATABASE {NAME}")
    yield TARGET
    _admin(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")


def kapflow(database: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database, "KAPFLOW_TESTING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "kapflow", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "kapflow.sqlite3"
    url = f"sqlite:///{path}"
    for args in (("migrate", "-v", "0"),
                 ("shell", "-c", "from tests.core.copy_source import fill; fill()")):  # fmt: skip
        done = kapflow(url, *args)
        assert done.returncode == 0, done.stderr[-3000:]
    return path, url


def _tables(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        names = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_") and name != "django_migrations"
        ]
        return {name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}


def _target(sql: str):
    with psycopg.connect(TARGET) as conn:
        return conn.execute(sql).fetchall()


def test_copy_to_postgres(source, target):
    path, url = source
    rows = _tables(path)
    assert rows["audit_auditevent"] > 0 and rows["outcomes_outcomesummary"] == 6

    # Not migrated: refused, nothing written.
    refused = kapflow(url, "copy_to_postgres", "--to", target)
    assert refused.returncode != 0 and "migrations differ" in refused.stderr

    # A value SQLite took but PostgreSQL refuses, half-way: the copy rolls back whole.
    with sqlite3.connect(path) as db:
        (first_id, name) = db.execute(
            "SELECT id, legal_last_name FROM patients_client ORDER BY id DESC LIMIT 1"
        ).fetchone()
        db.execute("UPDATE patients_client SET legal_last_name = ? WHERE id = ?", ["x" * 150,
                   first_id])  # fmt: skip
    failed = kapflow(url, "copy_to_postgres", "--to", target, "--migrate")
    assert failed.returncode != 0 and "too long" in failed.stderr
    assert _target("SELECT COUNT(*) FROM audit_auditevent") == [(0,)]
    assert _target("SELECT COUNT(*) FROM accounts_user") == [(0,)]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE patients_client SET legal_last_name = ? WHERE id = ?", [name, first_id])

    # The copy: every table, every row, every id.
    done = kapflow(url, "copy_to_postgres", "--to", target)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Copied {sum(rows.values())} rows" in done.stdout
    for table, count in rows.items():
        assert _target(f'SELECT COUNT(*) FROM "{table}"') == [(count,)], table
    with sqlite3.connect(path) as db:
        ids = db.execute("SELECT id, legal_last_name FROM patients_client ORDER BY id").fetchall()
        audit_top = db.execute("SELECT MAX(id) FROM audit_auditevent").fetchone()[0]
    assert _target("SELECT id, legal_last_name FROM patients_client ORDER BY id") == ids

    # Sequences continue after the highest id copied.
    (next_client,) = _target("SELECT nextval(pg_get_serial_sequence('patients_client', 'id'))")
    (next_event,) = _target("SELECT nextval(pg_get_serial_sequence('audit_auditevent', 'id'))")
    assert next_client[0] > ids[-1][0] and next_event[0] > audit_top

    # The audit chain verifies on the new database; the TOTP seed opens there.
    verified = kapflow(target, "audit_verify")
    assert verified.returncode == 0, verified.stderr[-3000:]
    assert f"OK: {rows['audit_auditevent']} events" in verified.stdout
    assert kapflow(target, "shell", "-c", SEED).stdout == kapflow(url, "shell", "-c", SEED).stdout

    # A database that holds data is refused, and left as it was.
    again = kapflow(url, "copy_to_postgres", "--to", target)
    assert again.returncode != 0 and "already holds rows" in again.stderr
    assert _target("SELECT COUNT(*) FROM patients_client") == [(len(ids),)]
