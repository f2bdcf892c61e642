"""What the environment selects: the task backend, the connection pool, Redis for sessions,
lockouts and the cache, static files and the log format. Each case runs settings.py afresh
in its own namespace (the live settings are untouched)."""

import runpy
from pathlib import Path

import pytest

import kapflow.config.settings as live_settings

SETTINGS = Path(live_settings.__file__)
PRODUCTION = {"SECRET_KEY": "x" * 50, "KAPFLOW_FIELD_KEYS": "a" * 43 + "="}
CLEARED = (
    "KAPFLOW_TESTING",
    "KAPFLOW_DEV",
    "KAPFLOW_DEMO_MODE",
    "KAPFLOW_DEBUG",
    "DATABASE_URL",
    "REDIS_URL",
    "KAPFLOW_TASKS_BACKEND",
    "KAPFLOW_DB_POOL_MAX",
    "KAPFLOW_DB_PREPARE",
    "KAPFLOW_STATIC_ROOT",
    "KAPFLOW_LOG_FORMAT",
)


def load(monkeypatch, **env) -> dict:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_production_defaults_to_the_database_queue(monkeypatch):
    s = load(monkeypatch, **PRODUCTION)
    assert s["TASKS"]["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"
    assert "django_tasks_db" in s["INSTALLED_APPS"]
    assert s["DEBUG"] is False


def test_redis_selects_rq_sessions_lockouts_and_the_cache(monkeypatch):
    s = load(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/3", **PRODUCTION)
    assert s["TASKS"]["default"]["BACKEND"] == "kapflow.runtime.backends.RQBackend"
    assert s["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert s["SESSION_ENGINE"] == "django.contrib.sessions.backends.cache"
    assert s["AXES_HANDLER"] == "axes.handlers.cache.AxesCacheHandler"
    assert s["RQ_QUEUES"]["default"]["URL"] == "redis://127.0.0.1:6379/3"
    assert "django_rq" in s["INSTALLED_APPS"]


def test_tests_run_tasks_in_the_request(monkeypatch):
    s = load(monkeypatch, KAPFLOW_TESTING="1", REDIS_URL="redis://127.0.0.1:6379/3")
    assert s["TASKS"]["default"]["BACKEND"] == "django_tasks.backends.immediate.ImmediateBackend"


def test_an_explicit_backend_wins(monkeypatch):
    immediate = "django_tasks.backends.immediate.ImmediateBackend"
    s = load(monkeypatch, KAPFLOW_TASKS_BACKEND=immediate, **PRODUCTION)
    assert s["TASKS"]["default"]["BACKEND"] == immediate


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load(monkeypatch)


def test_postgresql_connections_come_from_a_bounded_pool(monkeypatch):
    s = load(
        monkeypatch,
        DATABASE_URL="postgres://app@db:5432/kapflow",
        KAPFLOW_DB_POOL_MAX="6",
        **PRODUCTION,
    )
    db = s["DATABASES"]["default"]
    assert db["CONN_MAX_AGE"] == 0  # the pool, not the thread, keeps connections
    assert db["OPTIONS"]["pool"]["max_size"] == 6
    assert db["OPTIONS"]["pool"]["min_size"] == 1
    assert db["OPTIONS"]["options"] == "-c jit=off"


def test_without_a_pool_each_request_closes_its_connection(monkeypatch):
    s = load(
        monkeypatch,
        DATABASE_URL="postgres://app@db:5432/kapflow",
        KAPFLOW_DB_POOL_MAX="0",
        **PRODUCTION,
    )
    db = s["DATABASES"]["default"]
    assert db["CONN_MAX_AGE"] == 0
    assert "pool" not in db["OPTIONS"]


def test_sqlite_closes_its_connection_after_each_request(monkeypatch):
    s = load(monkeypatch, **PRODUCTION)
    assert s["DATABASES"]["default"]["CONN_MAX_AGE"] == 0


def test_collected_static_files_are_compressed(monkeypatch, tmp_path):
    s = load(monkeypatch, KAPFLOW_STATIC_ROOT=str(tmp_path), **PRODUCTION)
    assert s["STORAGES"]["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedStaticFilesStorage"
    )
    assert s["WHITENOISE_USE_FINDERS"] is False


def test_json_logs_go_to_stdout(monkeypatch):
    s = load(monkeypatch, KAPFLOW_LOG_FORMAT="json", **PRODUCTION)
    handler = s["LOGGING"]["handlers"]["console"]
    assert handler["formatter"] == "json"
    assert handler["stream"] == "ext://sys.stdout"
    assert s["LOGGING"]["loggers"]["kapflow.request"]["level"] == "INFO"


PG = "postgres://kapflow@127.0.0.1:5432/kapflow"


def test_postgresql_binds_on_the_server_and_prepares_repeated_queries(monkeypatch):
    options = load(monkeypatch, DATABASE_URL=PG, **PRODUCTION)["DATABASES"]["default"]["OPTIONS"]
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


def test_prepared_statements_can_be_turned_off_for_an_old_pgbouncer(monkeypatch):
    s = load(monkeypatch, DATABASE_URL=PG, KAPFLOW_DB_PREPARE="0", **PRODUCTION)
    options = s["DATABASES"]["default"]["OPTIONS"]
    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options


def test_sqlite_has_no_binding_options(monkeypatch):
    options = load(monkeypatch, **PRODUCTION)["DATABASES"]["default"]["OPTIONS"]
    assert "server_side_binding" not in options
