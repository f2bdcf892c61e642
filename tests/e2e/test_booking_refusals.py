"""End to end in Chromium: a telehealth booking for a client in a state where the
therapist holds no licence is refused, the refusal named by the therapist's field, focused
and in view, and nothing is booked (decision 0031)."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.core.timezones import viewer_zone
from kapflow.scheduling.models import Appointment
from tests.courses.factories import make_course
from tests.e2e.flows import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_telehealth_booking_in_an_unlicensed_state_is_refused(page, live_server, world):
    world.client.state = "CA"  # the therapist is licensed in Oregon only
    world.client.save()
    course = make_course(world.client, world.therapist, prescriber=world.prescriber)
    base = live_server.url
    sign_in(page, base, world.therapist)

    zone = ZoneInfo(viewer_zone(world.therapist.user, world.therapist))
    tomorrow = (timezone.now() + datetime.timedelta(days=1)).astimezone(zone)
    page.goto(f"{base}/schedule/book/?course={course.pk}&kind=therapy")
    page.locator("[name=starts_at]").fill(tomorrow.strftime("%Y-%m-%dT10:00"))
    page.get_by_label("Telehealth (video)").check()
    page.get_by_role("button", name=re.compile("^Book")).click()

    refusal = page.locator("#id_therapist_error")
    expect(refusal).to_contain_text("California")
    expect(refusal).to_contain_text(world.therapist.user.full_name)
    expect(refusal).to_be_focused()
    expect(refusal).to_be_in_viewport()
    assert not Appointment.objects.exists()
