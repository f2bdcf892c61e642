"""Structured logs: one JSON object per line, the request id on every line of a request, no
PHI (the scrub filter runs before the formatter)."""

import json
import logging

import pytest

from kapflow.core.context import RequestMeta, reset_request_meta, set_request_meta
from kapflow.core.logging import (
    JsonFormatter,
    PhiScrubFilter,
    PlainFormatter,
    RequestContextFilter,
)


def emit(formatter, msg, *args, exc=None, **extra) -> str:
    record = logging.LogRecord("kapflow.test", logging.INFO, __file__, 1, msg, args, exc)
    record.__dict__.update(extra)
    RequestContextFilter().filter(record)
    PhiScrubFilter().filter(record)
    return formatter.format(record)


def test_a_json_line_carries_the_request_id_and_extra_ids():
    token = set_request_meta(RequestMeta(request_id="r" * 32))
    try:
        line = emit(JsonFormatter(), "consent.signed", consent_id=7)
    finally:
        reset_request_meta(token)
    entry = json.loads(line)
    assert entry["event"] == "consent.signed"
    assert entry["request_id"] == "r" * 32
    assert entry["consent_id"] == 7
    assert entry["level"] == "INFO"
    assert entry["logger"] == "kapflow.test"
    assert entry["ts"].endswith("+00:00")


def test_outside_a_request_the_id_is_null():
    assert json.loads(emit(JsonFormatter(), "scan.done"))["request_id"] is None


def test_phi_keys_messages_and_tracebacks_are_scrubbed():
    try:
        raise ValueError("duplicate key (email)=(jordan@example.org) born 1990-04-01")
    except ValueError:
        import sys

        exc = sys.exc_info()
    line = emit(
        JsonFormatter(), "client %s", "jordan@example.org", exc=exc, date_of_birth="1990-04-01"
    )
    assert "jordan@" not in line and "1990-04-01" not in line
    entry = json.loads(line)
    assert entry["date_of_birth"] == "[redacted]"
    assert "[redacted]" in entry["exc"]
    plain = emit(PlainFormatter("%(message)s"), "x", exc=exc)
    assert "jordan@" not in plain and "1990-04-01" not in plain


@pytest.mark.django_db
def test_each_request_logs_its_route_status_and_id(client, caplog):
    caplog.set_level(logging.INFO, logger="kapflow.request")
    response = client.get("/sign-in/?next=/clients/42/")
    records = [r for r in caplog.records if r.getMessage() == "http.request"]
    assert len(records) == 1
    record = records[0]
    assert record.route == "accounts:login"
    assert record.status == response.status_code
    assert record.request_id == response["X-Request-Id"]
    assert "/clients/42/" not in caplog.text
