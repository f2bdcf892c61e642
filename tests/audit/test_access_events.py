"""Sign-in, sign-out, failures, lockouts, MFA and denied access are audit events the practice
can report on (issue 13), with no password, address or PHI in them."""

import datetime as dt

import pytest
from django_otp.oath import totp

from kapflow.audit import chain
from kapflow.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, totp_device
from tests.conftest import sign_in

WRONG = "wrong-password-123"


def _post(client, email, password):
    return client.post("/sign-in/", {"username": email, "password": password})


def _flat(rows) -> str:
    return " ".join(str(v) for row in rows for v in row.__dict__.values())


def _new(before: int, action: str):
    return list(AuditEvent.objects.filter(id__gt=before, action=action).order_by("id"))


def _last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_sign_in_is_recorded_for_the_persons_organisation(client, world):
    before = _last_id()
    assert _post(client, world.therapist.user.email, PASSWORD).status_code == 302
    [row] = _new(before, "auth.sign_in")
    assert (row.actor_id, row.organisation_id) == (world.therapist.user_id, world.practice.pk)
    assert (row.target_type, row.target_id) == ("user", world.therapist.user_id)
    assert row.route == "accounts:login" and row.request_id


def test_a_wrong_password_is_recorded_without_the_password(client, world):
    before = _last_id()
    _post(client, world.therapist.user.email.upper(), WRONG)
    [row] = _new(before, "auth.sign_in_fail")
    assert row.actor_id is None
    assert (row.target_type, row.target_id) == ("user", world.therapist.user_id)
    assert row.organisation_id == world.practice.pk
    flat = _flat(AuditEvent.objects.filter(id__gt=before))
    assert WRONG not in flat and world.therapist.user.email not in flat


def test_an_unknown_address_is_kept_only_as_a_keyed_hash(client, db):
    before = _last_id()
    _post(client, "  Nobody@Example.TEST ", WRONG)
    _post(client, "nobody@example.test", WRONG)
    rows = _new(before, "auth.sign_in_fail")
    assert len(rows) == 2
    assert {r.subject_hash for r in rows} == {chain.subject_hash("nobody@example.test")}
    assert (rows[0].target_id, rows[0].organisation_id) == (None, None)
    assert "nobody" not in _flat(rows).lower()


def test_a_lockout_is_recorded_and_every_try_while_locked(client, world):
    email = world.therapist.user.email
    before = _last_id()
    for _ in range(4):
        _post(client, email, WRONG)
    assert _post(client, email, WRONG).status_code == 429
    assert _post(client, email, PASSWORD).status_code == 429
    assert len(_new(before, "auth.sign_in_fail")) == 4
    locked = _new(before, "auth.lockout")
    assert len(locked) == 2
    assert {(r.target_id, r.organisation_id) for r in locked} == {
        (world.therapist.user_id, world.practice.pk)
    }
    assert not _new(before, "auth.sign_in")


def test_sign_out_is_recorded(client, world):
    sign_in(client, world.therapist.user)
    before = _last_id()
    client.post("/sign-out/")
    [row] = _new(before, "auth.sign_out")
    assert (row.actor_id, row.organisation_id) == (world.therapist.user_id, world.practice.pk)


def test_an_idle_time_out_is_recorded_as_a_session_end(client, world, time_machine):
    time_machine.move_to(dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC), tick=False)
    _post(client, world.client_member.user.email, PASSWORD)
    before = _last_id()
    time_machine.move_to(dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC), tick=False)
    client.get("/")
    [row] = _new(before, "auth.session_end")
    assert row.actor_id == world.client_member.user_id and row.request_id
    assert not _new(before, "auth.sign_out")


def _code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_mfa_failure_and_success_are_recorded(client, world):
    device = totp_device(world.therapist.user)
    _post(client, world.therapist.user.email, PASSWORD)
    before = _last_id()
    wrong = f"{(int(_code(device)) + 1) % 1000000:06d}"
    client.post("/mfa/verify/", {"token": wrong})
    [failed] = _new(before, "mfa.fail")
    assert (failed.actor_id, failed.organisation_id) == (world.therapist.user_id, world.practice.pk)
    assert wrong not in _flat([failed])
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    client.post("/mfa/verify/", {"token": _code(device)})
    assert len(_new(before, "mfa.verify")) == 1
    assert len(_new(before, "mfa.fail")) == 1


def test_the_practice_filters_sign_in_events(client, world):
    _post(client, world.therapist.user.email, WRONG)
    _post(client, world.other_therapist.user.email, WRONG)
    sign_in(client, world.admin.user)
    data = client.get("/api/v1/audit", {"kind": "auth."}).json()
    actions = {r["action"] for r in data["results"]}
    assert "auth.sign_in_fail" in actions and "auth.sign_in" in actions
    targets = {r["target_id"] for r in data["results"] if r["action"] == "auth.sign_in_fail"}
    assert targets == {world.therapist.user_id}
    page = client.get("/audit/", {"kind": "auth."}).content.decode()
    assert "auth.sign_in_fail" in page and "client.view" not in page


# ---- denied access ---------------------------------------------------------------------------


def test_a_probe_of_another_practices_client_is_shown_to_that_practice(client, world):
    sign_in(client, world.other_admin.user)
    before = _last_id()
    assert client.get(f"/clients/{world.client.pk}/").status_code == 404
    assert client.get(f"/api/v1/clients/{world.client.pk}").status_code == 404
    rows = _new(before, "access.denied")
    assert len(rows) == 2
    row = rows[0]
    assert (row.actor_id, row.organisation_id) == (world.other_admin.user_id, world.other.pk)
    assert (row.target_type, row.target_id) == ("client", world.client.pk)
    assert (row.record_organisation_id, row.client_id) == (world.practice.pk, None)
    assert world.client.legal_last_name not in _flat(rows)

    sign_in(client, world.admin.user)
    data = client.get("/api/v1/audit", {"kind": "access.denied"}).json()
    assert data["count"] == 2
    assert {r["record_organisation_id"] for r in data["results"]} == {world.practice.pk}


def test_the_probers_own_practice_does_not_learn_the_record_exists(client, world):
    sign_in(client, world.other_admin.user)
    client.get(f"/clients/{world.client.pk}/")
    data = client.get("/api/v1/audit", {"kind": "access.denied"}).json()
    assert data["count"] == 0


def test_a_missing_id_leaves_no_denied_row(client, world):
    sign_in(client, world.other_admin.user)
    before = _last_id()
    assert client.get("/clients/99999999/").status_code == 404
    assert not _new(before, "access.denied")


def test_a_denied_write_survives_the_rollback_of_its_transaction(client, world):
    sign_in(client, world.other_admin.user)
    before = _last_id()
    response = client.patch(
        f"/api/v1/clients/{world.client.pk}",
        data={"preferred_name": "Probe"},
        content_type="application/json",
    )
    assert response.status_code == 404
    [row] = _new(before, "access.denied")
    assert row.record_organisation_id == world.practice.pk


def test_the_client_access_report_leaves_out_denied_probes(client, world):
    sign_in(client, world.other_admin.user)
    client.get(f"/clients/{world.client.pk}/")
    client.force_login(
        world.client_member.user, backend="django.contrib.auth.backends.ModelBackend"
    )
    text = client.get("/me/access-report/").content.decode()
    assert world.other_admin.user.full_name not in text


@pytest.mark.parametrize("kind", ["course", "note"])
def test_other_tenant_records_are_recorded_too(client, world, kind):
    if kind == "course":
        from tests.courses.factories import make_course

        target, path = make_course(world.client, world.therapist), "/courses/{}/"
    else:
        from tests.notes.factories import draft

        target, path = draft(world.client, world.therapist), "/notes/{}/"
    sign_in(client, world.other_admin.user)
    before = _last_id()
    assert client.get(path.format(target.pk)).status_code == 404
    [row] = _new(before, "access.denied")
    assert (row.target_type, row.target_id) == (kind, target.pk)
    assert row.record_organisation_id == world.practice.pk
