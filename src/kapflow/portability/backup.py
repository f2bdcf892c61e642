"""`kapflow backup FILE` and `kapflow restore FILE`: the whole database, every organisation.

PostgreSQL: `pg_dump --format=custom` (one consistent snapshot while the install runs) and
`pg_restore --single-transaction --exit-on-error --no-owner --no-privileges` into an empty
database (re-grant the runtime role afterwards: `kapflow audit_db_role --apply`). SQLite:
the online backup API (`sqlite3.Connection.backup`), page by page, consistent while the
install runs; restore copies the backup into an empty or absent database file the same way.

`fingerprint` counts and hashes every table's rows in primary-key order, so a drill can say
the restored database holds what was backed up (compare on the same engine: values are
hashed as the driver returns them). Stored files (KAPFLOW_MEDIA_ROOT) are not in the
database; back them up beside it (docs/deploy.md).
"""

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dj_database_url
from django.db import connections

from kapflow.core.errors import DomainError

PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupRefused(DomainError):
    """The backup or restore cannot run as asked (the message says why)."""


@dataclass(frozen=True)
class Fingerprint:
    tables: dict[str, tuple[int, str]]

    @property
    def rows(self) -> int:
        return sum(count for count, _ in self.tables.values())

    @property
    def digest(self) -> str:
        sha = hashlib.sha256()
        for table in sorted(self.tables):
            count, digest = self.tables[table]
            sha.update(f"{table}\t{count}\t{digest}\n".encode())
        return sha.hexdigest()

    def line(self) -> str:
        return f"{len(self.tables)} tables, {self.rows} rows, fingerprint {self.digest}"


def _user_tables(conn) -> list[str]:
    with conn.cursor() as cursor:
        names = conn.introspection.table_names(cursor)
    return sorted(n for n in names if not n.startswith("sqlite_"))


def fingerprint(alias: str = "default") -> Fingerprint:
    """Rows per table and a SHA-256 of their values in primary-key order."""
    conn = connections[alias]
    tables = {}
    with conn.cursor() as cursor:
        for table in _user_tables(conn):
            quoted = conn.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted} ORDER BY 1")  # noqa: S608 (a table name)
            sha, count = hashlib.sha256(), 0
            while rows := cursor.fetchmany(2000):
                for row in rows:
                    sha.update(repr(tuple(bytes(v) if isinstance(v, memoryview) else v
                                          for v in row)).encode())  # fmt: skip
                    count += 1
            tables[table] = (count, sha.hexdigest())
    return Fingerprint(tables)


def _pg_env(settings: dict) -> dict:
    env = {**os.environ}
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"),
                      ("PASSWORD", "PGPASSWORD"), ("NAME", "PGDATABASE")):  # fmt: skip
        if settings.get(key):
            env[name] = str(settings[key])
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupRefused(
            f"{name} is not installed (Debian: postgresql-client).", code="backup.no_tool"
        )
    return path


def _run(args: list[str], env: dict) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupRefused(
            f"{Path(args[0]).name} failed: {done.stderr.strip()[-1500:]}", code="backup.tool"
        )


def backup(*, out: Path, alias: str = "default") -> None:
    """Write the database `alias` to `out` (custom-format dump or SQLite file)."""
    conn = connections[alias]
    if out.exists():
        raise BackupRefused(f"{out} exists; choose a new file.", code="backup.exists")
    if conn.vendor == "postgresql":
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        try:
            dump = [_tool("pg_dump"), "--format=custom", f"--file={out}"]
            _run(dump, _pg_env(conn.settings_dict))
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        return
    if conn.vendor != "sqlite":
        raise BackupRefused(f"No backup for {conn.vendor}.", code="backup.vendor")
    conn.ensure_connection()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    target = sqlite3.connect(out)
    try:
        conn.connection.backup(target)
    finally:
        target.close()


def backup_kind(path: Path) -> str:
    with open(path, "rb") as source:
        head = source.read(16)
    if head.startswith(PG_MAGIC):
        return "postgresql"
    if head == SQLITE_MAGIC:
        return "sqlite"
    raise BackupRefused(
        f"{path.name} is neither a pg_dump custom-format file nor a SQLite database.",
        code="restore.unknown",
    )


def database_settings(url: str | None, alias: str = "default") -> dict:
    """The settings of the database at `url`, else of the configured one."""
    return dj_database_url.parse(url) if url else dict(connections[alias].settings_dict)


def restore(*, path: Path, settings: dict) -> None:
    """Restore the backup at `path` into the empty database `settings` describe."""
    kind = backup_kind(path)
    engine = settings.get("ENGINE", "")
    if kind == "postgresql":
        if engine != "django.db.backends.postgresql":
            raise BackupRefused(
                "A PostgreSQL backup restores into a postgres:// database.",
                code="restore.vendor",
            )
        env = _pg_env(settings)
        _refuse_busy_postgres(settings)
        _run(
            [_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner",
             "--no-privileges", f"--dbname={settings['NAME']}", str(path)],
            env,
        )  # fmt: skip
        return
    if engine != "django.db.backends.sqlite3":
        raise BackupRefused(
            "A SQLite backup restores into a sqlite:/// database file.", code="restore.vendor"
        )
    target_path = Path(settings["NAME"])
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(target_path)
    try:
        tables = target.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        ).fetchone()[0]
        if tables:
            raise BackupRefused(
                f"{target_path} already holds {tables} tables: restore into a new file.",
                code="restore.not_empty",
            )
        source.backup(target)
    finally:
        source.close()
        target.close()


def _refuse_busy_postgres(settings: dict) -> None:
    import psycopg

    given = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD"}
    params = {key: str(settings[name]) for key, name in given.items() if settings.get(name)}
    with psycopg.connect(dbname=settings["NAME"], autocommit=True, **params) as conn:
        count = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
    if count:
        raise BackupRefused(
            f"The database {settings['NAME']} already holds {count} tables: restore into "
            "a new, empty database (createdb).",
            code="restore.not_empty",
        )
