"""Transmission security (HIPAA 164.312(e), ONC (d)(9)) and what a browser may keep
(ONC (d)(7)): behind the TLS proxy, KAPFLOW_HTTPS=1 makes every cookie Secure, turns on HSTS
and the HTTPS redirect and trusts only the proxy's X-Forwarded-Proto; pages are never
stored by the browser. Settings run afresh in their own namespace (the live ones untouched)."""

import runpy
from pathlib import Path

import kapflow.config.settings as live_settings

SETTINGS = Path(live_settings.__file__)
PRODUCTION = {"SECRET_KEY": "x" * 50, "KAPFLOW_FIELD_KEYS": "a" * 43 + "="}
CLEARED = ("KAPFLOW_TESTING", "KAPFLOW_DEV", "KAPFLOW_DEMO_MODE", "KAPFLOW_DEBUG", "KAPFLOW_HTTPS")


def load(monkeypatch, **env) -> dict:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_behind_tls_every_cookie_is_secure_and_https_is_enforced(monkeypatch):
    s = load(monkeypatch, KAPFLOW_HTTPS="1", **PRODUCTION)
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 31536000  # a year at least
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert s["SESSION_COOKIE_HTTPONLY"] is True


def test_without_tls_nothing_trusts_a_forwarded_scheme(monkeypatch):
    s = load(monkeypatch, **PRODUCTION)
    assert s["SECURE_PROXY_SSL_HEADER"] is None
    assert s["SESSION_COOKIE_SECURE"] is False  # and Django's check --deploy says so


def test_pages_and_api_answers_are_not_kept_by_the_browser(client, world):
    from tests.conftest import sign_in

    sign_in(client, world.therapist.user)
    page = client.get(f"/clients/{world.client.pk}/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    assert "camera=()" in page["Permissions-Policy"]
