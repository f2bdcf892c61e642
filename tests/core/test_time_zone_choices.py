"""The time-zone picker starts with the zones a US practice's people are in, in words, and
groups the rest by region instead of one flat list of ~600 names."""

from kapflow.accounts.forms import TimeZoneForm
from kapflow.core.timezones import COMMON_ZONES, time_zone_choices
from tests.conftest import sign_in


def test_the_us_zones_come_first_in_words():
    choices = time_zone_choices(blank="My organisation's time zone")
    assert choices[0] == ("", "My organisation's time zone")
    group, zones = choices[1]
    assert group == "United States"
    assert zones[0] == ("America/New_York", "Eastern time (New York)")
    assert ("America/Los_Angeles", "Pacific time (Los Angeles)") in zones


def test_the_rest_are_grouped_without_aliases_or_repeats():
    groups = dict(time_zone_choices()[1:])
    assert {"America", "Europe", "Asia", "Africa", "Australia", "Pacific"} <= set(groups)
    names = [name for zones in groups.values() for name, _label in zones]
    assert len(names) == len(set(names)), "a zone is listed twice"
    assert "Europe/London" in names and "Asia/Tokyo" in names and "UTC" in names
    assert not [n for n in names if n.startswith(("US/", "Etc/")) or n in ("EST5EDT", "GB")]
    # Common zones are listed once, under "United States" only.
    assert "America/New_York" not in dict(groups["America"])
    assert all(len(zones) < 200 for zones in groups.values())


def test_the_form_takes_a_grouped_zone_and_refuses_a_made_up_one():
    assert TimeZoneForm({"time_zone": "Europe/Berlin"}).is_valid()
    assert TimeZoneForm({"time_zone": COMMON_ZONES[0][0]}).is_valid()
    assert TimeZoneForm({"time_zone": ""}).is_valid()
    form = TimeZoneForm({"time_zone": "Mars/Olympus_Mons"})
    assert not form.is_valid() and "time_zone" in form.errors


def test_the_security_page_shows_the_groups(db, client, world):
    sign_in(client, world.therapist.user)
    html = client.get("/security/").content.decode()
    assert '<optgroup label="United States">' in html
    assert html.index("Eastern time (New York)") < html.index('<optgroup label="Europe">')
    assert "US/Pacific" not in html and "EST5EDT" not in html
