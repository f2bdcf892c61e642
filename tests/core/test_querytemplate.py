"""QueryTemplate: a queryset compiled once gives the rows the ORM gives for every value, and a
builder that could carry one call's value into another's query is refused."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count, Q

from kapflow.accounts.models import Organisation, OrganisationKind, Partnership
from kapflow.core.querytemplate import QueryTemplate, TemplateError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def orgs():
    made = []
    for i in range(6):
        made.append(
            Organisation.objects.create(
                name=f"Org {i}",
                slug=f"org-{i}",
                kind=OrganisationKind.PRACTICE if i % 2 else OrganisationKind.PARTNER,
                created_at=T0 + timedelta(days=i),
            )
        )
    Partnership.objects.create(practice=made[1], partner=made[0])
    Partnership.objects.create(practice=made[3], partner=made[0])
    return made


def _orm(kind, slug_prefix, after, pk_floor):
    return (
        Organisation.objects.filter(kind=kind, slug__gte=slug_prefix, created_at__gt=after)
        .filter(Q(pk__gte=pk_floor))
        .annotate(partners=Count("partnerships_as_practice"))
        .order_by("pk")
    )


BY_VALUE = QueryTemplate(
    lambda *, kind, prefix, after, floor: _orm(kind, prefix, after, floor), shape=("kind",)
)


def test_the_template_returns_what_the_orm_returns_for_every_value(orgs, django_assert_num_queries):
    cases = [
        (OrganisationKind.PRACTICE, "org-", T0 - timedelta(days=1), orgs[0].pk),
        (OrganisationKind.PRACTICE, "org-", T0 + timedelta(days=2), orgs[0].pk),
        (OrganisationKind.PARTNER, "org-", T0 - timedelta(days=1), orgs[2].pk),
        (OrganisationKind.PRACTICE, "org-4", T0, orgs[0].pk),
    ]
    for kind, prefix, after, floor in cases:
        expected = [(o.pk, o.partners) for o in _orm(kind, prefix, after, floor)]
        with django_assert_num_queries(1):
            got = BY_VALUE.list(kind=kind, prefix=prefix, after=after, floor=floor)
        assert [(o.pk, o.partners) for o in got] == expected
    # Compiled once per shape (kind), then only bound.
    assert len(BY_VALUE._compiled) == 2


def test_rows_are_model_instances_with_related_objects(orgs):
    template = QueryTemplate(
        lambda *, practice: Partnership.objects.select_related("partner", "practice").filter(
            practice_id=practice
        )
    )
    (row,) = template.list(practice=orgs[3].pk)
    assert row.practice == orgs[3]
    assert row.partner.name == "Org 0"
    assert template.first(practice=orgs[5].pk) is None


def test_a_value_computed_from_an_argument_is_refused(orgs):
    template = QueryTemplate(
        lambda *, after: Organisation.objects.filter(created_at__gt=after - timedelta(days=1))
    )
    with pytest.raises(TemplateError, match="not an argument as given"):
        template.list(after=T0)


def test_a_lookup_that_rewrites_the_value_is_refused(orgs):
    """startswith binds 'value%', not the argument."""
    template = QueryTemplate(lambda *, p: Organisation.objects.filter(slug__startswith=p))
    with pytest.raises(TemplateError, match="not an argument as given"):
        template.list(p="org")


def test_state_read_outside_the_arguments_is_refused(orgs):
    """The clock read inside the builder differs between the two probe builds."""
    template = QueryTemplate(
        lambda *, pk: Organisation.objects.filter(pk=pk, created_at__lt=datetime.now(UTC))
    )
    with pytest.raises(TemplateError):
        template.list(pk=orgs[0].pk)


def test_an_argument_that_changes_the_sql_text_is_refused(orgs):
    template = QueryTemplate(lambda *, n: Organisation.objects.order_by("pk")[: n % 7 + 1])
    with pytest.raises(TemplateError):
        template.list(n=3)


def test_an_unused_argument_is_refused(orgs):
    template = QueryTemplate(lambda *, pk, other: Organisation.objects.filter(pk=pk))
    with pytest.raises(TemplateError, match="not used by the query: other"):
        template.list(pk=1, other=2)


@pytest.mark.parametrize("value", [None, True, 1.5, datetime(2026, 1, 1)])
def test_only_ints_strings_and_aware_datetimes_are_bound(orgs, value):
    template = QueryTemplate(lambda *, v: Organisation.objects.filter(name=v))
    with pytest.raises(TemplateError):
        template.list(v=value)


def test_an_int_no_column_can_hold_gets_the_orms_answer(orgs):
    """The ORM finds nothing for an id beyond 64 bits; bound as is, it would be an error."""
    template = QueryTemplate(lambda *, pk: Organisation.objects.filter(pk=pk))
    assert template.list(pk=10**30) == []
    assert template.list(pk=-(10**30)) == []
    assert [o.pk for o in template.list(pk=orgs[2].pk)] == [orgs[2].pk]
