"""Bounded PostgreSQL connections in every serving mode: 30 concurrent signed-in page loads
against gunicorn with uvicorn workers, and against runserver, never hold more connections
than the pool allows, and none fails (the demo on runserver used to keep one connection per
thread it ever started and answered 500 "too many clients" under load).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection

from tests.conftest import sign_in
from tests.runtime.processes import free_port, http, needs_postgresql, wait_http

pytestmark = [needs_postgresql(), pytest.mark.process, pytest.mark.django_db(transaction=True)]

POOL_MAX = 3
REQUESTS = 30


class ConnectionSampler(threading.Thread):
    """Counts the test database's connections from the `postgres` database every 20 ms."""

    def __init__(self, dbname: str):
        super().__init__(daemon=True)
        self.dbname = dbname
        self.peak = 0
        self.stop = threading.Event()
        db = connection.settings_dict
        self.conninfo = (
            f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
            f"user={db['USER']} dbname=postgres"
            + (f" password={db['PASSWORD']}" if db.get("PASSWORD") else "")
        )

    def count(self, cursor) -> int:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'",
            [self.dbname],
        )
        return cursor.fetchone()[0]

    def run(self):
        with psycopg.connect(self.conninfo, autocommit=True) as conn, conn.cursor() as cursor:
            while not self.stop.wait(0.02):
                self.peak = max(self.peak, self.count(cursor))


def load(base: str, cookie: str) -> list[int]:
    def one(_):
        return http(base + "/clients/", headers={"Cookie": cookie}, timeout=60)[0]

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def session_cookie(client, user) -> str:
    sign_in(client, user)
    return f"sessionid={client.cookies['sessionid'].value}"


def other_connections(dbname: str) -> int:
    """Connections to the test database before the server starts: this process's own, and
    any an earlier test in the same run left open (a thread's persistent connection)."""
    sampler = ConnectionSampler(dbname)
    with psycopg.connect(sampler.conninfo, autocommit=True) as conn, conn.cursor() as cursor:
        return sampler.count(cursor)


@pytest.mark.parametrize("server", ["gunicorn", "runserver"])
def test_concurrent_requests_stay_within_the_pool(client, world, processes, server):
    cookie = session_cookie(client, world.admin.user)
    before = other_connections(connection.settings_dict["NAME"])
    port = free_port()
    extra = {"KAPFLOW_DB_POOL_MAX": str(POOL_MAX), "KAPFLOW_DB_POOL_TIMEOUT": "60"}
    if server == "gunicorn":
        workers = 2
        process = processes.gunicorn(port, workers=workers, **extra)
    else:
        workers = 1  # one process, a thread per request
        process = processes.kapflow("runserver", "--noreload", f"127.0.0.1:{port}", **extra)
    base = f"http://127.0.0.1:{port}"
    wait_http(base, process)
    assert http(base + "/clients/", headers={"Cookie": cookie})[0] == 200  # signed in

    sampler = ConnectionSampler(connection.settings_dict["NAME"])
    sampler.start()
    try:
        statuses = load(base, cookie) + load(base, cookie)
    finally:
        sampler.stop.set()
        sampler.join()
    assert [s for s in statuses if s >= 500] == []
    assert set(statuses) == {200}
    bound = workers * POOL_MAX + before
    print(f"{server}: peak {sampler.peak} connections for {2 * REQUESTS} requests, bound {bound}")
    assert 0 < sampler.peak <= bound, (sampler.peak, bound)
