"""The licensure rule: a current licence in the client's state, in plain words otherwise."""

from datetime import date

from kapflow.clinical.licensure import Licence, current_licence_in_state, licence_findings

TODAY = date(2026, 11, 25)
OR_LICENCE = Licence("LMFT", "OR", "T-1", date(2027, 1, 1))


def test_current_licence_in_state_has_no_findings():
    assert licence_findings([OR_LICENCE], state="OR", today=TODAY) == []


def test_licence_expiring_today_still_covers_today():
    licence = Licence("LMFT", "OR", "T-1", TODAY)
    assert current_licence_in_state([licence], state="OR", today=TODAY) == licence


def test_licence_without_expiry_counts_as_current():
    licence = Licence("LMFT", "OR", "T-1", None)
    assert licence_findings([licence], state="OR", today=TODAY) == []


def test_expired_licence_in_state_is_named_expired():
    expired = Licence("LMFT", "OR", "T-1", date(2026, 11, 24))
    findings = licence_findings([expired], state="OR", today=TODAY)
    assert [f.code for f in findings] == ["licence.expired"]
    assert "Oregon" in findings[0].message


def test_no_licence_in_state_is_a_state_mismatch():
    findings = licence_findings([OR_LICENCE], state="WA", today=TODAY)
    assert [f.code for f in findings] == ["licence.state_mismatch"]
    assert "Washington" in findings[0].message


def test_no_licences_at_all_is_a_state_mismatch():
    assert [f.code for f in licence_findings([], state="OR", today=TODAY)] == [
        "licence.state_mismatch"
    ]


def test_unknown_client_state_cannot_be_checked():
    findings = licence_findings([OR_LICENCE], state="", today=TODAY)
    assert [f.code for f in findings] == ["licence.client_state_unknown"]


def test_an_expired_and_a_current_licence_in_the_same_state_is_fine():
    expired = Licence("LMFT", "OR", "T-0", date(2020, 1, 1))
    assert licence_findings([expired, OR_LICENCE], state="OR", today=TODAY) == []
