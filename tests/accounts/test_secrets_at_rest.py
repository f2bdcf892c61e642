"""TOTP seeds encrypted at rest, recovery codes hashed, key rotation, and the migration that
moves django-otp's plain rows (decision 0034)."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings
from django_otp.oath import totp

from kapflow.accounts import services
from kapflow.accounts.crypto import decrypt_text
from kapflow.accounts.models import AuthenticatorDevice, RecoveryCode
from tests.accounts.factories import PASSWORD


def _code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _raw_rows(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return repr(cursor.fetchall())


def test_a_database_read_reveals_neither_seed_nor_recovery_codes(client, world):
    user = world.therapist.user
    device = services.totp_device_pending(user=user)
    seed = device.key
    codes = services.totp_confirm(user=user, token=_code(device))

    devices = _raw_rows("accounts_authenticatordevice")
    assert seed not in devices and seed.upper() not in devices
    stored = _raw_rows("accounts_recoverycode")
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
    assert _raw_rows("otp_totp_totpdevice") == "[]"
    assert _raw_rows("otp_static_statictoken") == "[]"

    # MFA still works: a later app code, and a recovery code once.
    client.post("/sign-in/", {"username": user.email, "password": PASSWORD})
    device = AuthenticatorDevice.objects.get(user=user, confirmed=True)
    device.last_t = -1
    device.save()
    assert client.post("/mfa/verify/", {"token": _code(device)}).status_code == 302
    client.post("/sign-out/")
    client.post("/sign-in/", {"username": user.email, "password": PASSWORD})
    assert client.post("/mfa/verify/", {"token": codes[0].upper()}).status_code == 302
    assert RecoveryCode.objects.filter(device__user=user).count() == len(codes) - 1


def test_rotation_reencrypts_under_the_first_key(world, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.KAPFLOW_FIELD_KEYS = [old]
    device = AuthenticatorDevice.objects.create(user=world.therapist.user, name="app")
    seed = device.key
    settings.KAPFLOW_FIELD_KEYS = [new, old]
    assert AuthenticatorDevice.objects.get(pk=device.pk).key == seed
    call_command("reencrypt_secrets", verbosity=0)
    settings.KAPFLOW_FIELD_KEYS = [new]
    assert AuthenticatorDevice.objects.get(pk=device.pk).key == seed
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM accounts_authenticatordevice WHERE id = %s", [device.pk])
        (stored,) = cursor.fetchone()
    assert Fernet(new.encode()).decrypt(stored.encode()).decode() == seed


def test_a_value_no_key_opens_is_a_configuration_error(world, settings):
    from django.core.exceptions import ImproperlyConfigured

    device = AuthenticatorDevice.objects.create(user=world.therapist.user, name="app")
    settings.KAPFLOW_FIELD_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured):
        AuthenticatorDevice.objects.get(pk=device.pk)


@override_settings(KAPFLOW_FIELD_KEYS=["not-a-key"])
def test_a_malformed_key_is_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        decrypt_text("x")


@pytest.mark.django_db(transaction=True)
def test_migration_moves_plain_seeds_and_codes_out_of_django_otp():
    before = [("accounts", "0007_authenticatordevice_recoverycode")]
    after = [("accounts", "0008_mfa_devices_encrypt")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    otp = [("otp_totp", "0003_add_timestamps"), ("otp_static", "0003_add_timestamps")]
    apps = executor.loader.project_state(before + otp).apps
    User = apps.get_model("accounts", "User")
    user = User.objects.create(email="seed@example.test", password="x")
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    seed = "3132333435363738393031323334353637383930"
    TOTPDevice.objects.create(user=user, name="app", key=seed, confirmed=True, last_t=7)
    static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    static.token_set.create(token="abc123-def456")

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    try:
        device = AuthenticatorDevice.objects.get(user_id=user.pk)
        assert device.key == seed and device.last_t == 7 and device.confirmed
        assert seed not in _raw_rows("accounts_authenticatordevice")
        assert _raw_rows("otp_totp_totpdevice") == "[]"
        assert _raw_rows("otp_static_statictoken") == "[]"
        recovery = device.user.recoverycodedevice_set.get()
        assert "abc123" not in _raw_rows("accounts_recoverycode")
        assert recovery.verify_token("ABC123-DEF456")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_platform_admin_offers_no_plain_otp_devices():
    from django.contrib import admin
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    assert not admin.site.is_registered(TOTPDevice)
    assert not admin.site.is_registered(StaticDevice)


@pytest.mark.django_db(transaction=True)
def test_existing_tokens_get_an_expiry_and_an_mfa_state():
    import datetime as dt

    from django.utils import timezone

    from kapflow.accounts.models import ApiToken

    before = [
        ("accounts", "0004_apitoken_add_scope_mfa_expiry"),
        ("otp_totp", "0003_add_timestamps"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    now = timezone.now()
    org = apps.get_model("accounts", "Organisation").objects.create(
        name="Old practice", slug="old-practice", kind="practice"
    )
    Membership = apps.get_model("accounts", "Membership")
    User = apps.get_model("accounts", "User")
    enrolled = User.objects.create(email="enrolled@example.test", password="x")
    plain = User.objects.create(email="plain@example.test", password="x")
    device = apps.get_model("otp_totp", "TOTPDevice").objects.create(
        user=enrolled, name="app", key="31" * 20, confirmed=True
    )
    type(device).objects.filter(pk=device.pk).update(created_at=now - dt.timedelta(days=300))
    Token = apps.get_model("accounts", "ApiToken")
    old = Token.objects.create(
        membership=Membership.objects.create(organisation=org, user=enrolled),
        name="old", prefix="aaaaaaaa", token_hash="a" * 64,
        created_at=now - dt.timedelta(days=200),
    )  # fmt: skip
    recent = Token.objects.create(
        membership=Membership.objects.create(organisation=org, user=plain),
        name="recent", prefix="bbbbbbbb", token_hash="b" * 64,
        created_at=now - dt.timedelta(days=10),
    )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    old, recent = ApiToken.objects.get(pk=old.pk), ApiToken.objects.get(pk=recent.pk)
    assert old.scope == recent.scope == "read_write"
    assert old.mfa == "verified" and recent.mfa == "unknown"
    assert old.expires_at >= now + dt.timedelta(days=30)  # not within a month of the upgrade
    assert recent.expires_at == recent.created_at + dt.timedelta(days=90)
