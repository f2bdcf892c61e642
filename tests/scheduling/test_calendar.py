"""The calendar grid (decision 0054): appointments placed by start and length in the
viewer's zone, on the days clocks change and across midnight; the clinician's free half
hours, each a link to a prefilled booking form; a fixed number of queries; and the booking
form's single client picker."""

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qs

import pytest
import time_machine

from kapflow.clinical import calendar as grid
from kapflow.scheduling import selectors
from kapflow.scheduling.models import Appointment, AvailabilityException, AvailabilityRule
from tests.conftest import sign_in
from tests.patients.factories import ClientFactory, on_team
from tests.scheduling.factories import at, book, room

LA_NAME = "America/Los_Angeles"


# ---- placement: pure rules ------------------------------------------------------------------


def test_an_hour_sits_on_its_wall_clock_rows():
    piece = grid.day_piece(at(2027, 3, 1, 10), at(2027, 3, 1, 11), date(2027, 3, 1), LA_NAME)
    assert (piece.start_minute, piece.end_minute) == (600, 660)
    assert (piece.first_row, piece.last_row) == (40, 44)
    assert not piece.continues_before and not piece.continues_after


def test_an_appointment_crossing_midnight_is_cut_into_two_pieces():
    days = [date(2027, 3, 1), date(2027, 3, 2), date(2027, 3, 3)]
    first, second = grid.pieces(at(2027, 3, 1, 22), at(2027, 3, 2, 1, 30), days, LA_NAME)
    assert (first.day, first.start_minute, first.end_minute) == (date(2027, 3, 1), 1320, 1440)
    assert first.continues_after and not first.continues_before
    assert (second.day, second.start_minute, second.end_minute) == (date(2027, 3, 2), 0, 90)
    assert second.continues_before and not second.continues_after


def test_an_appointment_ending_at_midnight_has_no_piece_on_the_next_day():
    days = [date(2027, 3, 1), date(2027, 3, 2)]
    (only,) = grid.pieces(at(2027, 3, 1, 23), at(2027, 3, 2, 0), days, LA_NAME)
    assert only.day == date(2027, 3, 1) and only.end_minute == 1440 and not only.continues_after


def test_spring_forward_day_is_23_hours_and_its_skipped_hour_is_shaded():
    start, end = grid.day_bounds(date(2027, 3, 14), LA_NAME)
    assert end - start == timedelta(hours=23)
    assert grid.skipped_spans(date(2027, 3, 14), LA_NAME) == [(120, 180)]
    assert grid.skipped_spans(date(2027, 3, 15), LA_NAME) == []
    # 01:30 PST to 03:30 PDT is one real hour, drawn from the 01:30 row to the 03:30 row.
    begins = datetime(2027, 3, 14, 9, 30, tzinfo=UTC)
    piece = grid.day_piece(begins, begins + timedelta(hours=1), date(2027, 3, 14), LA_NAME)
    assert (piece.start_minute, piece.end_minute) == (90, 210)


def test_fall_back_day_is_25_hours_and_a_piece_in_the_repeated_hour_keeps_its_length():
    start, end = grid.day_bounds(date(2027, 11, 7), LA_NAME)
    assert end - start == timedelta(hours=25)
    # 01:30 PDT (08:30 UTC) to 01:15 PST (09:15 UTC): 45 minutes, wall clock going back.
    begins = datetime(2027, 11, 7, 8, 30, tzinfo=UTC)
    piece = grid.day_piece(begins, begins + timedelta(minutes=45), date(2027, 11, 7), LA_NAME)
    assert (piece.start_minute, piece.end_minute) == (90, 135)
    # After the change, 10:00 PST sits on the 10:00 row.
    ten = grid.day_piece(
        datetime(2027, 11, 7, 18, tzinfo=UTC),
        datetime(2027, 11, 7, 19, tzinfo=UTC),
        date(2027, 11, 7),
        LA_NAME,
    )
    assert ten.start_minute == 600


def test_overlapping_spans_get_side_by_side_lanes():
    assert grid.lanes([(0, 4), (2, 6), (4, 8), (10, 12)]) == ([0, 1, 0, 0], 2)
    assert grid.lanes([]) == ([], 1)


def test_the_hours_shown_widen_to_hold_every_piece():
    assert grid.hour_range([]) == (8, 18)
    assert grid.hour_range([(6 * 60 + 30, 7 * 60)]) == (6, 18)
    assert grid.hour_range([(1320, 1440)]) == (8, 24)


# ---- the page -------------------------------------------------------------------------------


@pytest.fixture
def hours(world):
    """The therapist works Monday to Friday, 09:00-17:00 in the practice's zone."""
    for weekday in range(5):
        AvailabilityRule.objects.create(
            organisation=world.practice,
            membership=world.therapist,
            weekday=weekday,
            start_time=time(9),
            end_time=time(17),
            time_zone=LA_NAME,
        )


@pytest.fixture
def friday():
    """The clock: the Friday before the week of 1 March 2027, 12:00 in the practice's zone."""
    with time_machine.travel(at(2027, 2, 26, 12), tick=False):
        yield


def _week(client, **params):
    query = "&".join(f"{k}={v}" for k, v in {"date": "2027-03-01", **params}.items())
    return client.get(f"/schedule/?{query}")


def test_the_week_places_appointments_and_offers_free_half_hours(client, world, hours, friday):
    appt = book(world.therapist, world.client, starts_at=at(2027, 3, 2, 10)).first
    cal = selectors.calendar_for_member(
        actor=world.therapist, anchor=date(2027, 3, 1), view="week", zone_name=LA_NAME
    )
    (item,) = [i for d in cal.days for i in d.items]
    tuesday = cal.days[1]
    assert item.appt.pk == appt.pk and item in tuesday.items and tuesday.column == 3
    # Rows from 08:00 (row line 2), 15 minutes each: 10:00 is line 10, 11:00 line 14.
    assert (cal.first_hour, item.row_start, item.row_end) == (8, 10, 14)
    starts = {s.starts_at for d in cal.days for s in d.slots}
    # 16 half hours a day for five days, less the two the appointment takes.
    assert len(starts) == 5 * 16 - 2
    assert at(2027, 3, 2, 10) not in starts and at(2027, 3, 2, 10, 30) not in starts
    assert at(2027, 3, 2, 9, 30) in starts and at(2027, 3, 2, 11) in starts
    assert not cal.days[5].slots and not cal.days[6].slots  # the weekend: no hours

    sign_in(client, world.therapist.user)
    page = _week(client)
    html = page.content.decode()
    assert page.status_code == 200 and f'data-testid="appt-{appt.pk}"' in html
    assert 'data-rows="10-14"' in html and "Nothing booked" not in html
    assert html.count('data-testid="free"') == 78


def test_time_off_and_the_past_offer_no_free_time(world, hours):
    AvailabilityException.objects.create(
        organisation=world.practice,
        membership=world.therapist,
        starts_at=at(2027, 3, 3, 0),
        ends_at=at(2027, 3, 4, 0),
        reason="Away",
    )
    with time_machine.travel(at(2027, 3, 2, 12, 10), tick=False):
        cal = selectors.calendar_for_member(
            actor=world.therapist, anchor=date(2027, 3, 1), view="week", zone_name=LA_NAME
        )
    per_day = [len(d.slots) for d in cal.days]
    # Monday is past; Tuesday from 12:30; Wednesday away; Thursday and Friday whole days.
    assert per_day == [0, 9, 0, 16, 16, 0, 0]


def test_a_free_slot_opens_the_booking_form_prefilled(client, world, hours, friday):
    cedar, oak = room(world.practice), room(world.practice, "Oak")
    colleagues = ClientFactory(organisation=world.practice)
    on_team(colleagues, world.therapist2)
    book(
        world.therapist2,
        colleagues,
        kind="consultation",
        starts_at=at(2027, 3, 1, 9),
        room_id=cedar.pk,
    )
    cal = selectors.calendar_for_member(
        actor=world.therapist, anchor=date(2027, 3, 1), view="week", zone_name=LA_NAME
    )
    slots = {s.starts_at: s for s in cal.days[0].slots}
    # Cedar is taken at 09:00 (30 minutes) by a colleague: the first free room is offered.
    assert parse_qs(slots[at(2027, 3, 1, 9)].query)["room"] == [str(oak.pk)]
    slot = slots[at(2027, 3, 1, 9, 30)]
    params = parse_qs(slot.query)
    assert params == {
        "at": ["2027-03-01T17:30Z"],
        "therapist": [str(world.therapist.pk)],
        "room": [str(cedar.pk)],
    }
    assert world.client.legal_last_name not in slot.query
    sign_in(client, world.therapist.user)
    html = client.get(f"/schedule/book/?{slot.query}").content.decode()
    assert 'name="starts_at" value="2027-03-01T09:30"' in html  # the viewer's zone
    assert f'<option value="{world.therapist.pk}" selected>' in html
    assert f'<option value="{cedar.pk}" selected>' in html


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00", "2040-01-01T09:00Z", "soon"]
)
def test_an_implausible_slot_time_leaves_the_default_start(client, world, friday, value):
    """Year 1 cannot be drawn in Los Angeles' zone: ignored, not a 500."""
    sign_in(client, world.therapist.user)
    response = client.get("/schedule/book/", {"at": value})
    assert response.status_code == 200
    assert value[:10] not in response.content.decode()


def test_the_day_view_and_a_midnight_crossing_on_the_page(client, world, friday):
    late = book(world.therapist, world.client, starts_at=at(2027, 3, 1, 22), minutes=180).first
    sign_in(client, world.therapist.user)
    week = _week(client).content.decode()
    # Two pieces: 22:00-24:00 on Monday and 00:00-01:00 on Tuesday; the grid shows 00-24.
    assert week.count(f'data-testid="appt-{late.pk}"') == 2
    assert 'data-rows="2-6"' in week and 'data-rows="90-98"' in week
    day = client.get("/schedule/?view=day&date=2027-03-02").content.decode()
    assert day.count(f'data-testid="appt-{late.pk}"') == 1 and "--days:1" in day


def test_spring_forward_week_on_the_page(client, world):
    with time_machine.travel(at(2027, 3, 10, 12), tick=False):
        appt = book(world.therapist, world.client, starts_at=at(2027, 3, 14, 1, 30)).first
        sign_in(client, world.therapist.user)
        html = client.get("/schedule/?date=2027-03-14").content.decode()
    assert "Clocks went forward: 02:00–03:00 did not happen" in html
    # 01:30 to 03:30 on the wall (an hour), from the grid's top at 01:00 (line 2).
    assert f'data-testid="appt-{appt.pk}"' in html and 'data-rows="4-12"' in html


def test_a_clinician_filter_for_admins_only(client, world, friday):
    appt = book(world.therapist, world.client, starts_at=at(2027, 3, 2, 10)).first
    sign_in(client, world.admin.user)
    html = _week(client, member=world.therapist.pk).content.decode()
    assert f'data-testid="appt-{appt.pk}"' in html and 'id="member"' in html
    sign_in(client, world.therapist2.user)
    assert _week(client, member=world.therapist.pk).status_code == 404
    assert 'id="member"' not in _week(client).content.decode()


@pytest.mark.parametrize("count", [1, 12])
def test_the_week_is_a_fixed_number_of_queries(
    client, world, hours, friday, count, django_assert_num_queries
):
    cedar = room(world.practice)
    for i in range(count):
        day, hour = divmod(i, 6)
        book(
            world.therapist,
            world.client,
            starts_at=at(2027, 3, 1 + day, 9 + hour),
            minutes=30,
            room_id=cedar.pk,
        )
    sign_in(client, world.therapist.user)
    _week(client)  # warm the session and the caches
    with django_assert_num_queries(WEEK_QUERIES):
        assert _week(client).status_code == 200
    with django_assert_num_queries(WEEK_QUERIES):
        assert client.get("/schedule/?view=day&date=2027-03-01").status_code == 200


# Session, user, membership and roles (the middleware), the appointments and their
# participants, the visible clients and the audit INSERT, the hours, time off, busy time
# and held inquiries, the rooms and the rooms' bookings.
WEEK_QUERIES = 15


# ---- the booking form's client picker -------------------------------------------------------


def test_the_client_picker_is_one_drop_down(client, world, friday):
    sign_in(client, world.therapist.user)
    html = client.get("/schedule/book/").content.decode()
    picker = html[html.index('name="clients"') - 200 : html.index('name="clients"') + 400]
    assert "<select" in picker and "multiple" not in picker
    assert world.other_client.display_name not in html  # another practice's client


def test_a_group_takes_other_clients_by_record_number_and_refuses_garbage(client, world, friday):
    sign_in(client, world.therapist.user)
    data = {
        "kind": "integration",
        "clients": world.client.pk,
        "starts_at": "2027-03-01T10:00",
        "telehealth": "on",
        "also_clients": "#12x",
    }
    page = client.post("/schedule/book/", data)
    assert page.status_code == 422
    assert "Give record numbers only" in str(page.context["form"].errors["also_clients"])
    assert not Appointment.objects.exists()
    empty = client.post("/schedule/book/", {**data, "clients": "", "also_clients": ""})
    assert "Choose a client." in str(empty.context["form"].errors["clients"])
