"""The demo publishes Harbor Light and two more practices (different states, one online
only) and leaves one confirmed request from the public form on Harbor Light's caseload."""

import pytest

from kapflow.demo.loader import load_demo
from kapflow.directory.models import ClinicianProfile, Inquiry, PracticeProfile
from kapflow.directory.selectors import SearchParams, search

pytestmark = pytest.mark.django_db


def test_demo_directory(frozen):
    load_demo(clients=4)
    practices = PracticeProfile.objects.filter(published=True)
    assert practices.count() == 3
    assert len({p.state for p in practices}) == 3
    assert practices.filter(online_only=True).count() == 1
    assert ClinicianProfile.objects.filter(visible=True).count() == 4
    inquiry = Inquiry.objects.select_related("course").get()
    assert inquiry.status == "confirmed" and inquiry.course.stage == "inquiry"
    assert inquiry.organisation.slug == "harbor-light"
    assert inquiry.prescriber_id is not None  # a joint intake
    assert search(SearchParams(mode="near", zip_code="97214")).rows
    assert search(SearchParams(mode="online", state="NJ")).rows
    load_demo(clients=4)  # idempotent
    assert Inquiry.objects.count() == 1
