"""The fee schedule and billing settings pages: practice admins and billers only; a new rate
is a new dated row (history kept), a refusal names its field and saves nothing."""

import datetime
from decimal import Decimal

import pytest

from kapflow.audit.models import AuditEvent
from kapflow.billing.models import BillingSettings, FeeService
from tests.billing.factories import fee_schedule
from tests.conftest import sign_in

FROZEN = datetime.datetime(2026, 11, 18, 20, 0, tzinfo=datetime.UTC)
NEW_RATE = {"code": "90837", "description": "Psychotherapy, 60 minutes",
            "purpose": "psychotherapy", "rate": "190.00", "effective_from": "2026-12-01",
            "unit_minutes": 60}  # fmt: skip
SETTINGS = {"tax_id": "12-3456789", "currency": "usd", "rounding_minutes": 10,
            "rounding": "up", "telehealth_modifier": "95", "payment_terms_days": 14}  # fmt: skip


@pytest.fixture
def practice(world, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    fee_schedule(world.practice)
    return world


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin", 200),
        ("biller", 200),
        ("therapist", 404),
        ("client_member", 404),
        ("companion", 404),
    ],
)
@pytest.mark.parametrize("url", ["/billing/fees/", "/billing/settings/"])
def test_who_may_open_the_setup_pages(client, practice, role, status, url):
    sign_in(client, getattr(practice, role).user)
    assert client.get(url).status_code == status
    assert client.post(url, NEW_RATE if "fees" in url else SETTINGS).status_code in (
        {302} if status == 200 else {404}
    )


def test_the_workbench_links_to_both(client, practice):
    sign_in(client, practice.biller.user)
    page = client.get("/billing/").content.decode()
    assert 'href="/billing/fees/"' in page and 'href="/billing/settings/"' in page


def test_the_fee_schedule_lists_rates_with_dates_and_a_new_rate_keeps_history(client, practice):
    sign_in(client, practice.biller.user)
    page = client.get("/billing/fees/").content.decode()
    assert "90837" in page and "180.00" in page and "2020-01-01" in page

    response = client.post("/billing/fees/", NEW_RATE)
    assert response.status_code == 302
    rows = FeeService.objects.filter(code="90837").order_by("effective_from")
    old, new = rows
    assert (old.rate, old.effective_to) == (Decimal("180.00"), datetime.date(2026, 11, 30))
    assert (new.rate, new.effective_from, new.effective_to) == (
        Decimal("190.00"), datetime.date(2026, 12, 1), None,
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="fee.add", target_id=new.pk).exists()
    page = client.get("/billing/fees/").content.decode()
    assert "190.00" in page and "2026-12-01" in page and "2026-11-30" in page


def test_a_rate_on_or_before_the_current_start_is_refused_and_nothing_changes(client, practice):
    sign_in(client, practice.admin.user)
    before = list(FeeService.objects.values_list("pk", "rate", "effective_from", "effective_to"))
    response = client.post("/billing/fees/", {**NEW_RATE, "effective_from": "2020-01-01"})
    assert response.status_code == 422
    assert "history is kept" in response.content.decode()
    assert list(FeeService.objects.values_list(
        "pk", "rate", "effective_from", "effective_to")) == before  # fmt: skip
    assert client.post("/billing/fees/", {**NEW_RATE, "rate": "x"}).status_code == 422
    assert FeeService.objects.count() == len(before)


def test_settings_save_and_a_bad_currency_names_its_field(client, practice):
    sign_in(client, practice.biller.user)
    assert client.post("/billing/settings/", SETTINGS).status_code == 302
    row = BillingSettings.objects.get(organisation=practice.practice)
    assert (row.tax_id, row.currency, row.rounding_minutes, row.rounding) == (
        "12-3456789", "USD", 10, "up",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="billing.settings").exists()
    page = client.get("/billing/settings/").content.decode()
    assert 'value="12-3456789"' in page

    response = client.post("/billing/settings/", {**SETTINGS, "currency": "U$1",
                                                  "tax_id": "99-0000000"})  # fmt: skip
    assert response.status_code == 422
    assert response.context["form"].errors["currency"] == [
        "Give the three-letter ISO 4217 code, such as USD."
    ]
    row.refresh_from_db()
    assert (row.tax_id, row.currency) == ("12-3456789", "USD")
