"""The caseload's compiled queries (decision 0055 applied to courses.selectors.course_list):
for every kind of actor and every filter, the rows and the count are those of the same query
built by the ORM, and a shape compiled for one actor binds the next actor's own values."""

import itertools

import pytest

from kapflow.courses import selectors
from kapflow.courses.models import DueItem
from kapflow.courses.selectors import CourseFilters, course_list
from kapflow.patients.models import CareTeamMember
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory

pytestmark = pytest.mark.django_db


def _orm(actor, filters):
    """The same page through the ORM as written (the path a name search takes)."""
    arguments = {
        **selectors.policy.course_scope_shape(actor),
        "status": filters.status,
        "sort": filters.sort,
        "organisation_id": actor.organisation_id,
        "membership_id": actor.pk,
        "now": selectors.clock.now(),
    }
    for name in ("stage", "pathway", "delivery", "therapist"):
        if getattr(filters, name):
            arguments[name] = getattr(filters, name)
    page = selectors.bounded_page(
        selectors._caseload(**arguments), number=filters.page, per_page=selectors.PAGE_SIZE
    )
    return [c.pk for c in page.object_list], page.paginator.count, page.has_next()


def _templated(actor, filters):
    page = course_list(actor=actor, filters=filters)
    return [row.course.pk for row in page.object_list], page.paginator.count, page.has_next()


@pytest.fixture
def caseload(world, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 3)  # several pages from a few courses
    stages = ["intake", "active", "preparation", "completed", "active", "intake", "withdrawn"]
    courses = []
    for index, stage in enumerate(stages):
        client = ClientFactory(organisation=world.practice, legal_last_name=f"Larch{index}")
        therapist = world.therapist if index % 3 else world.therapist2
        CareTeamMember.objects.create(
            organisation=world.practice, client=client, membership=therapist,
            role="therapist", added_by=world.admin.user,
        )  # fmt: skip
        if index % 2:
            CareTeamMember.objects.create(
                organisation=world.practice, client=client, membership=world.prescriber,
                role="prescriber", added_by=world.admin.user,
            )  # fmt: skip
        course = make_course(client, therapist, stage=stage,
                             prescriber=world.prescriber if index % 2 else None)  # fmt: skip
        courses.append(course)
    DueItem.objects.create(
        organisation=world.practice, course=courses[1], code="integration", label="Integration",
        due_at=selectors.clock.now(), overdue=True,
    )  # fmt: skip
    return courses


SORTS = tuple(selectors.SORTS)
FILTERS = [
    CourseFilters(status=status, sort=SORTS[index % len(SORTS)], page=page)
    for index, (status, page) in enumerate(
        itertools.product(("open", "closed", "all", "overdue"), (1, 2, 9))
    )
] + [
    CourseFilters(status="all", stage="active"),
    CourseFilters(status="all", stage="intake", sort="name"),
    CourseFilters(status="all", pathway="higher_dose"),
    CourseFilters(status="all", delivery="in_person", sort="recent"),
]


@pytest.mark.parametrize("who", ["admin", "therapist", "therapist2", "prescriber"])
def test_every_filter_gives_the_rows_the_orm_gives(world, caseload, who):
    actor = getattr(world, who)
    seen = set()
    for filters in FILTERS:
        expected = _orm(actor, filters)
        assert _templated(actor, filters) == expected, filters
        seen.update(expected[0])
    # The actors differ: the admin sees all seven, each therapist only their own.
    mine = {c.pk for c in caseload if who == "admin" or c.therapist_id == actor.pk}
    if who == "prescriber":
        mine = {c.pk for c in caseload if c.prescriber_id == actor.pk}
    assert seen == mine


def test_the_therapist_filter_is_bound_not_baked(world, caseload):
    first = _templated(world.admin, CourseFilters(status="all", therapist=world.therapist.pk))
    second = _templated(world.admin, CourseFilters(status="all", therapist=world.therapist2.pk))
    assert first[1] == sum(c.therapist_id == world.therapist.pk for c in caseload)
    assert second[1] == sum(c.therapist_id == world.therapist2.pk for c in caseload)
    assert not set(first[0]) & set(second[0])


def test_a_shape_compiled_for_one_therapist_binds_the_next(world, caseload):
    filters = CourseFilters(status="all")
    mine = _templated(world.therapist, filters)
    theirs = _templated(world.therapist2, filters)
    assert mine[1] + theirs[1] == len(caseload)
    assert not set(mine[0]) & set(theirs[0])
    # Another practice's therapist, with the same shape, sees none of them.
    assert _templated(world.other_therapist, filters) == ([], 0, False)
    assert selectors._CASELOAD_ROWS._compiled, "the rows query was compiled once and reused"
