"""The demo practice on the command line, as an operator moves it: exported here, imported by
`kapflow import` into a fresh database of our own, exported again by `kapflow export` there
with the same content (every member's SHA-256; only the manifest's `created` differs), the
audit chain verified there by `kapflow audit_verify`; then the backup drill: `kapflow
backup` of that database, `kapflow restore` into another new one, and the same row counts
and row digests in every table.

Fresh databases are made from the test database as migrate left it (SQLite: its online
backup into a file; PostgreSQL: CREATE DATABASE ... TEMPLATE, as kapflow_port_*), and
dropped afterwards."""

import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from kapflow.accounts.models import Membership
from kapflow.demo.loader import load_demo
from kapflow.portability import archive
from kapflow.portability.export import export_practice
from kapflow.portability.importer import busy_tables

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]


def kapflow(database: str, *args: str, media: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "KAPFLOW_TESTING": "1",
        "KAPFLOW_MEDIA_ROOT": str(media),
        "PYTHONPATH": str(ROOT / "src"),
    }
    return subprocess.run(
        [sys.executable, "-m", "kapflow", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _pg_admin_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"


def _pg_admin(sql: str) -> None:
    with psycopg.connect(f"{_pg_admin_url()}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def fresh(django_db_setup, django_db_blocker, tmp_path_factory):
    """fresh(migrated=True) -> the URL of a new database: migrated and empty, or bare."""
    made: list[str] = []
    where = tmp_path_factory.mktemp("databases")
    with django_db_blocker.unblock():
        assert busy_tables() == [], "the test database must be empty to serve as a template"
        vendor = connection.vendor
        if vendor == "sqlite":
            template = where / "template.sqlite3"
            connection.ensure_connection()
            target = sqlite3.connect(template)
            connection.connection.backup(target)
            target.close()
        else:
            template = f"kapflow_port_tpl_{uuid.uuid4().hex[:8]}"
            test_db = connection.settings_dict["NAME"]
            connection.close()
            _pg_admin(f'CREATE DATABASE {template} TEMPLATE "{test_db}"')
            made.append(template)

    def make(migrated: bool = True) -> str:
        name = f"kapflow_port_{uuid.uuid4().hex[:8]}"
        if vendor == "sqlite":
            path = where / f"{name}.sqlite3"
            if migrated:
                path.write_bytes(template.read_bytes())
            return f"sqlite:///{path}"
        _pg_admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if migrated else ""))
        made.insert(0, name)
        return f"{_pg_admin_url()}/{name}"

    yield make
    for name in made:
        _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_demo_travels_to_a_fresh_database_and_back_and_its_backup_restores(db, fresh, tmp_path):
    load_demo(clients=16)
    slug = Membership.objects.get(user__email="admin@harborlight.example").organisation.slug
    first = export_practice(slug=slug, out=tmp_path / "first.tar.gz")
    target = fresh()

    began = time.monotonic()
    done = kapflow(target, "import", str(first.path), media=tmp_path / "media")
    import_seconds = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-3000:]
    assert "patients_client: " in done.stdout  # progress per table
    assert re.search(r"audit trail intact \(\d+ events\)", done.stdout), done.stdout[-2000:]

    second = tmp_path / "second.tar.gz"
    done = kapflow(target, "export", "--practice", slug, "--out", str(second), media=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    again = archive.read_manifest(second)
    assert archive.manifest_content(again) == archive.manifest_content(first.manifest)
    assert again["created"]["at"] != first.manifest["created"]["at"]
    with tarfile.open(first.path, "r:gz") as a, tarfile.open(second, "r:gz") as b:
        assert a.getnames() == b.getnames()

    done = kapflow(target, "audit_verify", media=tmp_path)
    assert done.returncode == 0 and "chain intact" in done.stdout, done.stdout + done.stderr

    # The backup drill (docs/deploy.md): back up, restore into a new database, compare.
    backup = tmp_path / "kapflow.backup"
    done = kapflow(target, "backup", str(backup), "--fingerprint", media=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    backed_up = re.search(r"Backed up: (.*)", done.stdout).group(1)
    restored_into = fresh(migrated=False)
    done = kapflow(target, "restore", str(backup), "--to", restored_into, media=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    restored = re.search(r"Restored: (.*)", done.stdout).group(1)
    assert restored == backed_up
    rows = int(re.search(r"(\d+) rows", restored).group(1))
    assert rows > sum(first.manifest["tables"].values())  # migrations and the export event too
    # Restoring over a database that holds tables is refused.
    done = kapflow(target, "restore", str(backup), "--to", target, media=tmp_path)
    assert done.returncode != 0 and "restore into" in done.stderr

    print(
        f"\ndemo practice: {sum(first.manifest['tables'].values())} rows, export "
        f"{first.seconds:.2f} s in process, import {import_seconds:.1f} s as a command"
    )
