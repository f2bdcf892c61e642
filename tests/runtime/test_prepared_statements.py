"""On PostgreSQL a query the app repeats is prepared on its connection (decision 0047): the
server plans it once. Runs on the test database with the settings CI uses."""

import pytest
from django.db import connection

from kapflow.accounts.models import Organisation
from tests.runtime.processes import needs_postgresql

pytestmark = [needs_postgresql(), pytest.mark.django_db]


def prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_a_query_run_five_times_is_prepared_and_answers_with_each_value():
    a = Organisation.objects.create(name="Prepared A", slug="prepared-a")
    b = Organisation.objects.create(name="Prepared B", slug="prepared-b")
    names = [Organisation.objects.get(pk=pk).name for pk in (a.pk, b.pk) * 3]
    assert names == ["Prepared A", "Prepared B"] * 3
    # The statement text carries $1, not the value: one plan serves every id.
    assert any(
        'FROM "accounts_organisation" WHERE "accounts_organisation"."id" = $1' in sql
        for sql in prepared()
    )
