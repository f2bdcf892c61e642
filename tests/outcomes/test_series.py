"""outcomes.selectors.summarise: baseline rule, change, response and remission of one
instrument's scores (no database)."""

import datetime

import pytest

from kapflow.clinical import instruments
from kapflow.outcomes.selectors import Score, summarise

T0 = datetime.datetime(2025, 1, 6, 9, 0, tzinfo=datetime.UTC)


def _scores(*totals, start=0):
    return [
        Score(i + 1, T0 + datetime.timedelta(days=7 * (start + i)), total, "", False)
        for i, total in enumerate(totals)
    ]


def _day(n):
    return T0 + datetime.timedelta(days=n)


def test_baseline_is_the_first_score_without_dosing():
    s = summarise(instruments.PHQ9, _scores(18, 12, 8), [])
    assert (s.baseline.total, s.baseline_rule, s.latest.total) == (18, "first_score", 8)
    assert (s.change, s.response, s.remission) == (-10, True, False)
    assert s.response_threshold == 9.0


def test_baseline_is_the_last_score_before_the_first_dosing():
    # Scores on days 0, 7, 14, 21; dosing on days 10 and 17: baseline is day 7's 20.
    s = summarise(instruments.PHQ9, _scores(22, 20, 12, 4), [_day(17), _day(10)])
    assert (s.baseline.total, s.baseline_rule) == (20, "before_first_dosing")
    assert (s.change, s.response, s.remission) == (-16, True, True)


def test_baseline_falls_back_to_the_first_score_when_none_precedes_dosing():
    s = summarise(instruments.PHQ9, _scores(15, 9, start=2), [_day(1)])
    assert (s.baseline.total, s.baseline_rule) == (15, "first_score")


def test_a_score_at_the_moment_of_dosing_is_not_before_it():
    s = summarise(instruments.PHQ9, _scores(15, 9), [_day(0)])
    assert s.baseline_rule == "first_score"


def test_exactly_half_is_a_response():
    s = summarise(instruments.PHQ9, _scores(18, 9), [])
    assert s.response is True
    assert summarise(instruments.PHQ9, _scores(18, 10), []).response is False


def test_remission_is_at_or_below_four():
    assert summarise(instruments.PHQ9, _scores(10, 4), []).remission is True
    assert summarise(instruments.PHQ9, _scores(10, 5), []).remission is False


def test_nothing_is_decided_before_a_follow_up_score():
    s = summarise(instruments.PHQ9, _scores(3), [])
    assert not s.followed_up
    assert (s.change, s.response, s.remission) == (None, None, None)
    # Only pre-dosing scores: the baseline is the last, nothing follows it yet.
    s = summarise(instruments.PHQ9, _scores(20, 18), [_day(30)])
    assert (s.baseline.total, s.followed_up, s.change) == (18, False, None)


def test_a_zero_baseline_has_no_response_and_no_threshold():
    s = summarise(instruments.PHQ9, _scores(0, 0), [])
    assert (s.response, s.response_threshold, s.remission) == (None, None, True)


def test_instruments_without_rules_report_change_only():
    s = summarise(instruments.PCL5, _scores(50, 30), [])
    assert (s.change, s.response, s.remission, s.response_threshold) == (-20, None, None, None)


def test_order_is_by_time_then_id_whatever_the_input_order():
    a, b, c = _scores(10, 8, 6)
    s = summarise(instruments.GAD7, [c, a, b], [])
    assert [x.total for x in s.scores] == [10, 8, 6]
    same_time = [Score(2, T0, 5, "", False), Score(1, T0, 7, "", False)]
    s = summarise(instruments.GAD7, same_time, [])
    assert (s.baseline.total, s.latest.total) == (7, 5)


def test_no_scores_is_refused():
    with pytest.raises(ValueError):
        summarise(instruments.PHQ9, [], [])
