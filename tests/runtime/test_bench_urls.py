"""The benchmark's baseline view (decision 0044): only in the bench URLconf, which settings
choose only when KAPFLOW_BENCH_VIEWS is on, and it returns no personal data."""

import pytest
from django.test import override_settings

from tests.patients.factories import ClientFactory
from tests.runtime.test_settings import PRODUCTION, load


def test_settings_choose_the_bench_urls_only_when_asked(monkeypatch):
    monkeypatch.delenv("KAPFLOW_BENCH_VIEWS", raising=False)
    assert load(monkeypatch, **PRODUCTION)["ROOT_URLCONF"] == "kapflow.config.urls"
    bench = load(monkeypatch, KAPFLOW_BENCH_VIEWS="1", **PRODUCTION)
    assert bench["ROOT_URLCONF"] == "kapflow.config.bench_urls"


@pytest.mark.django_db
def test_production_urls_have_no_baseline_view(client):
    row = ClientFactory()
    assert client.get(f"/bench/baseline/{row.pk}").status_code == 404


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="kapflow.config.bench_urls")
def test_the_baseline_reads_one_row_by_key_without_personal_data(client, django_assert_num_queries):
    row = ClientFactory()
    with django_assert_num_queries(1):
        response = client.get(f"/bench/baseline/{row.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "organisation_id", "state", "created_at", "updated_at"}
    assert body["id"] == row.pk
    assert row.legal_last_name not in response.content.decode()
    assert client.get(f"/bench/baseline/{row.pk + 1000}").status_code == 404
    # The rest of kapflow is served as usual beside it.
    assert client.get("/health/live").status_code == 200
