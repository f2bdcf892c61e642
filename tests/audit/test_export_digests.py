"""Every export carries its SHA-256 (ONC 170.315(d)(8); decision 0037): the RFC 9530
`Repr-Digest` header is right for the bytes received, the export's audit event holds the
same digest (chained), and `kapflow export_verify` / the verify page find a copy and refuse
a changed one."""

import ast
import base64
import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

import kapflow
from kapflow.audit import chain
from kapflow.audit.exports import parse_digest, repr_digest
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_chain_check
from tests.conftest import sign_in
from tests.notes.factories import signed


def body_of(response) -> bytes:
    """The bytes received (a streamed body is read once and kept on the response)."""
    if not hasattr(response, "_body_read"):
        streamed = b"".join(response.streaming_content) if response.streaming else None
        response._body_read = streamed if streamed is not None else response.content
    return response._body_read


def check_digest(response, action: str) -> str:
    """The header is `sha-256=:<base64 of SHA-256(body)>:` and the export's audit event
    holds the same digest; returns it as hex."""
    assert response.status_code == 200
    body = body_of(response)
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{expected}:"
    hex_digest = hashlib.sha256(body).hexdigest()
    events = AuditEvent.objects.filter(action=action, content_digest=hex_digest)
    assert events.exists(), f"no {action} event with the file's digest"
    assert all(chain.event_intact(event) for event in events)
    return hex_digest


@pytest.fixture
def notes(world):
    return [signed(world.client, world.therapist), signed(world.client, world.therapist)]


def test_the_audit_csv_export(client, world):
    sign_in(client, world.therapist.user)
    client.get(f"/clients/{world.client.pk}/")
    sign_in(client, world.admin.user)
    got = client.get("/audit/export.csv", {"action": "client.view"})
    check_digest(got, "audit.export")
    assert body_of(got).decode().startswith("at,actor_id,actor_email")


def test_the_trail_shows_each_exports_digest(client, world, notes):
    sign_in(client, world.therapist.user)
    hex_digest = check_digest(client.get(f"/notes/{notes[0].pk}.pdf"), "note.export")
    sign_in(client, world.admin.user)
    csv_body = body_of(client.get("/audit/export.csv", {"action": "note.export"})).decode()
    assert csv_body.splitlines()[0].endswith(",content_digest")
    assert csv_body.splitlines()[1].endswith(f",{hex_digest}")
    api = client.get("/api/v1/audit", {"action": "note.export"}).json()
    assert api["results"][0]["content_digest"] == hex_digest


def test_the_outcomes_csv_export(client, world):
    sign_in(client, world.admin.user)
    got = client.get("/outcomes/practice.csv", {"instrument": "phq9", "group_by": "all"})
    check_digest(got, "outcomes.practice_export")
    # The page's own audit row is not written for the export: one event, with the digest.
    assert not AuditEvent.objects.filter(action="outcomes.practice_export", content_digest="")


def test_a_note_pdf(client, world, notes):
    sign_in(client, world.therapist.user)
    got = client.get(f"/notes/{notes[0].pk}.pdf")
    hex_digest = check_digest(got, "note.export")
    [event] = AuditEvent.objects.filter(content_digest=hex_digest)
    assert (event.target_id, event.client_id) == (notes[0].pk, world.client.pk)


def test_the_records_request_pdf(client, world, notes):
    sign_in(client, world.admin.user)
    got = client.get(f"/notes/clients/{world.client.pk}/records.pdf")
    hex_digest = check_digest(got, "note.export")
    rows = AuditEvent.objects.filter(content_digest=hex_digest)
    assert sorted(rows.values_list("target_id", flat=True)) == sorted(n.pk for n in notes)


def test_a_records_request_pdf_without_notes_is_still_audited_with_its_digest(client, world):
    sign_in(client, world.admin.user)
    got = client.get(f"/notes/clients/{world.client.pk}/records.pdf")
    hex_digest = check_digest(got, "note.export")
    [event] = AuditEvent.objects.filter(content_digest=hex_digest)
    assert (event.target_type, event.target_id) == ("client", world.client.pk)


def test_the_accounting_pdf_for_staff_and_for_the_client(client, world):
    sign_in(client, world.admin.user)
    check_digest(
        client.get(f"/audit/clients/{world.client.pk}/disclosures.pdf"),
        "disclosure.accounting_export",
    )
    sign_in(client, world.client_member.user)
    check_digest(client.get("/me/access-report/disclosures.pdf"), "disclosure.accounting_export")


def test_the_chain_still_verifies_with_export_digests(client, world, notes):
    sign_in(client, world.admin.user)
    client.get(f"/notes/clients/{world.client.pk}/records.pdf")
    client.get("/audit/export.csv")
    assert audit_chain_check().ok


def test_an_export_event_whose_digest_was_changed_is_not_intact(client, world, notes):
    sign_in(client, world.therapist.user)
    hex_digest = check_digest(client.get(f"/notes/{notes[0].pk}.pdf"), "note.export")
    event = AuditEvent.objects.get(content_digest=hex_digest)
    event.content_digest = hashlib.sha256(b"a forged file").hexdigest()
    assert not chain.event_intact(event)


def parse_in_fresh_thread(source: str) -> ast.Module:
    """ast.parse on a new thread's stack: CPython 3.11.7 can raise "AST constructor recursion
    depth mismatch" (gh-106905, fixed in 3.11.8) when parsing deep inside a long run."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ast.parse, source).result()


def test_every_csv_and_pdf_response_goes_through_export_response():
    """No view builds a CSV or PDF response of its own: the content type appears only as an
    argument of export_response (or in the helper that calls it)."""
    src = Path(kapflow.__file__).parent
    offenders = []
    for path in src.rglob("*.py"):
        if "migrations" in path.parts or path.name == "exports.py":
            continue
        tree = parse_in_fresh_thread(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg == "content_type"
                    and isinstance(value, ast.Constant)
                    and str(value.value).startswith(("text/csv", "application/pdf"))
                    and name != "export_response"
                ):
                    offenders.append(f"{path.relative_to(src)}:{node.lineno} {name}")
    assert not offenders, offenders


# ---- checking a copy --------------------------------------------------------------------------


@pytest.fixture
def exported(client, world, notes, tmp_path):
    sign_in(client, world.admin.user)
    got = client.get(f"/notes/clients/{world.client.pk}/records.pdf")
    path = tmp_path / "records.pdf"
    path.write_bytes(body_of(got))
    return path, got["Repr-Digest"]


def test_the_command_finds_the_export_of_an_unchanged_file(exported, capsys):
    path, header = exported
    call_command("export_verify", str(path))
    out = capsys.readouterr().out
    assert header in out
    assert "MATCH: audit event #" in out and "note.export" in out
    assert "OK: kapflow produced every file given, unchanged." in out


def test_the_command_refuses_a_changed_file(exported, capsys):
    path, _header = exported
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="not verified"):
        call_command("export_verify", str(path))
    assert "NO MATCH" in capsys.readouterr().out


def test_the_command_takes_the_header_value_instead_of_a_file(exported, capsys):
    _path, header = exported
    call_command("export_verify", "--digest", header)
    assert "MATCH: audit event #" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not a SHA-256"):
        call_command("export_verify", "--digest", "not-a-digest")


def test_the_verify_page_for_the_practice_admin(client, world, exported):
    path, header = exported
    sign_in(client, world.admin.user)
    upload = SimpleUploadedFile("records.pdf", path.read_bytes())
    page = client.post("/audit/verify/", {"file": upload}).content.decode()
    assert "kapflow produced this file." in page and header in page
    changed = SimpleUploadedFile("records.pdf", path.read_bytes() + b"\n")
    page = client.post("/audit/verify/", {"file": changed}).content.decode()
    assert "No export of this practice has this hash." in page
    page = client.post("/audit/verify/", {"digest": header}).content.decode()
    assert "kapflow produced this file." in page
    assert AuditEvent.objects.filter(action="audit.export_verify").count() == 3


def test_the_verify_page_names_the_missing_input(client, world):
    sign_in(client, world.admin.user)
    got = client.post("/audit/verify/", {"digest": "abc"})
    assert got.status_code == 422
    assert "Or its SHA-256: Choose the file, or paste its SHA-256" in got.content.decode()


def test_another_practice_cannot_confirm_our_exports(client, world, exported):
    path, _header = exported
    sign_in(client, world.other_admin.user)
    upload = SimpleUploadedFile("records.pdf", path.read_bytes())
    page = client.post("/audit/verify/", {"file": upload}).content.decode()
    assert "No export of this practice has this hash." in page
    sign_in(client, world.therapist.user)
    assert client.get("/audit/verify/").status_code == 404


@pytest.mark.parametrize(
    "value",
    [
        "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
    ],
)
def test_a_pasted_digest_is_read_in_each_form(value):
    empty = hashlib.sha256(b"").hexdigest()
    assert parse_digest(value) == empty
    assert repr_digest(empty) == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


@pytest.mark.parametrize("value", ["", "abc", "sha-256=:AAAA:", "z" * 64])
def test_what_is_not_a_digest_is_refused(value):
    assert parse_digest(value) is None
