"""`kapflow export` and `kapflow import` in this process: a practice with a partner, a
portal client with a message attachment, an encrypted TOTP seed and a probe by another
practice's admin is exported, the database goes back to empty (the block that built it is
rolled back), the archive is imported, and exporting again gives the same content.

What the archive holds and leaves out, the refusals (a changed member named, a non-empty
install with nothing written, another audit key unless told to chain again), and the
`practice.export` event that vouches for the file. The demo in a fresh database, on the
command line, with backup and restore: test_round_trip.py."""

import io
import json
import os
import shutil
import stat
import tarfile

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from kapflow.accounts.models import AuthenticatorDevice, Membership, Role, User
from kapflow.audit import chain
from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_access_denied
from kapflow.messaging.models import Attachment
from kapflow.patients.models import Client, Companion
from kapflow.portability import archive
from kapflow.portability.export import ExportRefused, export_practice
from kapflow.portability.importer import ImportRefused, busy_tables, import_practice
from tests.accounts.factories import (
    OrganisationFactory,
    PartnerFactory,
    member,
    partnership,
    totp_device,
)
from tests.messaging.factories import PDF, care_thread, upload
from tests.patients.factories import ClientFactory, on_team


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _build():
    """A practice, its partner and another practice (which must not travel)."""
    practice = OrganisationFactory(name="Export Practice", state="OR")
    other = OrganisationFactory(name="Stay Practice", state="OR")
    partner = PartnerFactory(name="Export Partner")
    partnership(practice, partner)
    w = type("World", (), {})()
    w.practice, w.other, w.partner = practice, other, partner
    w.admin = member(practice, Role.PRACTICE_ADMIN)
    w.therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    w.prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    w.seed = totp_device(w.therapist.user).key
    w.partner_seed = totp_device(w.prescriber.user).key
    w.other_admin = member(other, Role.PRACTICE_ADMIN)
    w.other_client = ClientFactory(organisation=other, legal_last_name="Staysbehind")
    w.client = ClientFactory(organisation=practice)
    on_team(w.client, w.therapist)
    on_team(w.client, w.prescriber, role="prescriber", added_by=w.therapist.user)
    w.client_member = member(practice, Role.CLIENT)
    w.client.user = w.client_member.user
    w.client.save()
    w.companion = member(practice, Role.COMPANION)
    Companion.objects.create(organisation=practice, client=w.client, user=w.companion.user)
    care_thread(w, attachments=[upload("labs.pdf", PDF)])
    audit_access_denied(actor=w.other_admin, model=Client, object_id=w.client.pk)
    return w


def _export_then_forget(tmp_path, name="a.tar.gz"):
    """Build, export, and roll the database back to empty; the archive stays."""
    out = tmp_path / name
    with transaction.atomic():
        w = _build()
        facts = {
            "slug": w.practice.slug,
            "practice": w.practice.pk,
            "other_client": w.other_client.pk,
            "other_admin_user": w.other_admin.user_id,
            "prescriber_user": w.prescriber.user_id,
            "seed": w.seed,
            "partner_seed": w.partner_seed,
            "therapist_user": w.therapist.user_id,
            "admin_password": User.objects.get(pk=w.admin.user_id).password,
        }
        result = export_practice(slug=w.practice.slug, out=out)
        facts["export_event"] = AuditEvent.objects.filter(action="practice.export").get()
        transaction.set_rollback(True)
    # The stored files stay behind with the source install.
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    return result, facts


def _rows(path: str, member: str) -> list[dict]:
    with tarfile.open(path, "r:gz") as tar:
        return [json.loads(line) for line in tar.extractfile(member)]


def test_the_archive_holds_the_practice_and_what_it_names_and_nothing_else(
    db, media_root, tmp_path
):
    result, facts = _export_then_forget(tmp_path)
    manifest = result.manifest
    assert stat.S_IMODE(os.stat(result.path).st_mode) == 0o600
    assert archive.file_sha256(result.path) == result.sha256
    # The export is itself in the trail, vouching for the file, and not in the archive.
    assert facts["export_event"].content_digest == result.sha256
    events = _rows(result.path, "tables/audit_auditevent.jsonl")
    assert "practice.export" not in {e["action"] for e in events}
    assert "access.denied" in {e["action"] for e in events}  # the probe the practice saw
    clients = _rows(result.path, "tables/patients_client.jsonl")
    assert facts["other_client"] not in {c["id"] for c in clients}
    assert {c["organisation_id"] for c in clients} == {facts["practice"]}
    users = {u["id"]: u for u in _rows(result.path, "tables/accounts_user.jsonl")}
    # The partner's prescriber comes with their membership and licence, but not with
    # another organisation's sign-in secrets: no password, no authenticator seed.
    assert facts["prescriber_user"] in users
    assert users[facts["prescriber_user"]]["password"] == "!"
    licences = _rows(result.path, "tables/accounts_clinicianlicence.jsonl")
    assert facts["prescriber_user"] in {row["user_id"] for row in licences}
    seeds = _rows(result.path, "tables/accounts_authenticatordevice.jsonl")
    # The practice's own therapist's seed travels (decrypted); the partner's does not.
    assert [s["key"] for s in seeds] == [facts["seed"]]
    assert users[facts["therapist_user"]]["password"] != "!"
    # The other practice's admin is named by the probe: present, but cannot sign in.
    assert users[facts["other_admin_user"]]["password"] == "!"
    assert manifest["tables"]["accounts_membership"] == 5  # 4 of the practice, the prescriber
    assert manifest["files"]["count"] == 1
    with tarfile.open(result.path, "r:gz") as tar:
        names = tar.getnames()
        assert names[0] == archive.MANIFEST
        pdf = [n for n in names if n.startswith("files/")]
        assert tar.extractfile(pdf[0]).read() == PDF
    for name, listed in manifest["members"].items():
        assert len(listed["sha256"]) == 64, name
    assert manifest["audit"]["events"] == len(events)


def test_import_into_an_empty_database_and_export_again_gives_the_same_content(
    db, media_root, tmp_path
):
    first, facts = _export_then_forget(tmp_path)
    assert busy_tables() == []
    lines = []
    result = import_practice(path=first.path, progress=lines.append)
    connection.check_constraints()  # the foreign keys a COMMIT would check
    assert result.audit.ok and result.audit.events == first.manifest["audit"]["events"]
    assert not result.rechained
    assert any(line.startswith("patients_client: ") for line in lines)
    assert AuthenticatorDevice.objects.get().key == facts["seed"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM accounts_authenticatordevice")
        assert cursor.fetchone()[0].startswith("gAAAA")  # encrypted again at rest
    assert User.objects.get(pk=facts["therapist_user"]).password != "!"
    assert User.objects.get(pk=facts["prescriber_user"]).password == "!"  # the partner's
    attachment = Attachment.objects.get()
    assert attachment.file.read() == PDF
    assert Membership.objects.filter(organisation__slug=facts["slug"]).count() == 4
    second = export_practice(slug=facts["slug"], out=tmp_path / "b.tar.gz")
    assert archive.manifest_content(second.manifest) == archive.manifest_content(first.manifest)
    with tarfile.open(first.path, "r:gz") as a, tarfile.open(second.path, "r:gz") as b:
        for name in first.manifest["members"]:
            assert a.extractfile(name).read() == b.extractfile(name).read(), name


def test_a_changed_member_is_refused_by_name(db, media_root, tmp_path):
    first, _ = _export_then_forget(tmp_path)
    changed = tmp_path / "changed.tar.gz"
    with tarfile.open(first.path, "r:gz") as source, tarfile.open(changed, "w:gz") as target:
        for info in source:
            data = source.extractfile(info).read()
            if info.name == "tables/patients_client.jsonl":
                data = data.replace(b'"legal_first_name":"', b'"legal_first_name":"X')
                info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    with pytest.raises(ImportRefused, match=r"tables/patients_client\.jsonl differs"):
        import_practice(path=changed)
    assert busy_tables() == []


def test_a_non_empty_install_is_refused_with_nothing_written(db, media_root, tmp_path):
    first, _ = _export_then_forget(tmp_path)
    OrganisationFactory(name="Already Here", state="OR")
    before = AuditEvent.objects.count(), Client.objects.count()
    with pytest.raises(CommandError, match="This install is not empty"):
        call_command("import", str(first.path), verbosity=0)
    assert (AuditEvent.objects.count(), Client.objects.count()) == before
    assert not (media_root / "private").exists() or not any((media_root / "private").rglob("*"))


def test_another_audit_key_is_refused_unless_told_to_chain_again(
    db, media_root, tmp_path, settings
):
    first, _ = _export_then_forget(tmp_path)
    settings.KAPFLOW_AUDIT_KEY = "another-install-s-audit-key"
    with pytest.raises(ImportRefused, match="does not verify under this install's"):
        import_practice(path=first.path)
    assert busy_tables() == []
    result = import_practice(path=first.path, rechain_audit=True)
    assert result.rechained and result.audit.ok
    assert chain.verify().ok


def test_an_unknown_practice_is_a_clear_error(db, tmp_path):
    with pytest.raises(ExportRefused, match="No organisation has the slug 'nowhere'"):
        export_practice(slug="nowhere", out=tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()


def test_the_command_shows_progress_per_table(db, media_root, tmp_path, capsys):
    with transaction.atomic():
        w = _build()
        out = tmp_path / "c.tar.gz"
        call_command("export", practice=w.practice.slug, out=str(out))
        transaction.set_rollback(True)
    printed = capsys.readouterr().out
    assert "patients_client: 1 rows" in printed
    assert f"Wrote {out}" in printed and "SHA-256" in printed
