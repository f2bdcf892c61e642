"""outcomes.stats: t critical values, mean intervals, Wilson intervals, suppression. Every
expected number is worked by hand (or read from a printed table) in the test."""

import itertools
import math

import pytest

from kapflow.outcomes import stats


def _t_cdf(t: float, df: int, steps: int = 4000) -> float:
    """Student's t CDF by Simpson's rule on the density: an independent check of the table."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def density(x):
        return c * (1 + x * x / df) ** (-(df + 1) / 2)

    h = t / steps
    total = density(0) + density(t)
    total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    return 0.5 + total * h / 3


@pytest.mark.parametrize(
    ("df", "expected"),
    # Printed two-sided 95 % values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
    [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (20, 2.086), (29, 2.045), (30, 2.042),
     (40, 2.021), (60, 2.000), (100, 1.984), (120, 1.980), (1000, 1.962)],
)  # fmt: skip
def test_t_critical_matches_printed_tables(df, expected):
    assert stats.t_critical(df) == pytest.approx(expected, abs=0.0011)


def test_t_critical_puts_97_5_percent_below_it_for_every_df_up_to_300():
    for df in range(1, 301):
        assert _t_cdf(stats.t_critical(df), df) == pytest.approx(0.975, abs=1e-5), df


def test_t_critical_falls_smoothly_past_the_table_towards_1_96():
    values = [stats.t_critical(df) for df in range(28, 200)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert stats.t_critical(10**7) == pytest.approx(stats.Z_95, abs=1e-6)


@pytest.mark.parametrize("df", [0, -1, 2.5, True])
def test_t_critical_refuses_impossible_degrees_of_freedom(df):
    with pytest.raises(ValueError):
        stats.t_critical(df)


def test_mean_ci_hand_worked():
    # 2, 4, 6, 8: mean 5, SD sqrt(20/3) = 2.5820, SE 1.2910, t(3) = 3.1824, half 4.1084.
    ci = stats.mean_ci_of([2, 4, 6, 8])
    assert ci.n == 4 and ci.mean == 5
    assert ci.low == pytest.approx(0.8916, abs=1e-4)
    assert ci.high == pytest.approx(9.1084, abs=1e-4)


def test_mean_ci_from_summary_matches_values():
    # -10 x6, -16 x2, -5 x3: mean -107/11 = -9.7273, SD 3.8234, t(10) = 2.2281, half 2.5685.
    ci = stats.mean_ci(n=11, mean=-107 / 11, sd=math.sqrt(146.181818 / 10))
    assert ci.low == pytest.approx(-12.2958, abs=1e-3)
    assert ci.high == pytest.approx(-7.1588, abs=1e-3)
    again = stats.mean_ci_of([-10] * 6 + [-16] * 2 + [-5] * 3)
    assert (again.mean, again.low, again.high) == pytest.approx((ci.mean, ci.low, ci.high))


def test_mean_ci_of_one_value_has_no_interval_and_of_none_is_none():
    assert stats.mean_ci_of([7]) == stats.MeanCI(1, 7.0, None, None)
    assert stats.mean_ci(n=0, mean=0, sd=None) is None
    assert stats.mean_ci_of([]) is None


def test_mean_ci_of_identical_values_is_a_point():
    ci = stats.mean_ci_of([3, 3, 3])
    assert (ci.low, ci.high) == (3, 3)


def test_wilson_hand_worked_half():
    # 5/10: centre 0.5, half 1.96 * sqrt(0.025 + 0.0096) / 1.3841 = 0.2634.
    p = stats.wilson(5, 10)
    assert (p.k, p.n, p.p) == (5, 10, 0.5)
    assert p.low == pytest.approx(0.2366, abs=1e-4)
    assert p.high == pytest.approx(0.7634, abs=1e-4)


def test_wilson_at_zero_starts_at_exactly_zero():
    # 0/10: upper bound z^2/n / (1 + z^2/n) = 0.38415 / 1.38415 = 0.2775.
    p = stats.wilson(0, 10)
    assert p.low == 0.0
    assert p.high == pytest.approx(0.2775, abs=1e-4)


def test_wilson_at_n_ends_at_exactly_one():
    p = stats.wilson(10, 10)
    assert p.high == 1.0
    assert p.low == pytest.approx(0.7225, abs=1e-4)


def test_wilson_eight_of_eleven():
    p = stats.wilson(8, 11)
    assert p.low == pytest.approx(0.4343, abs=1e-4)
    assert p.high == pytest.approx(0.9025, abs=1e-4)


def test_wilson_one_of_one_and_none_of_none():
    p = stats.wilson(1, 1)
    assert p.high == 1.0 and p.low == pytest.approx(0.2065, abs=1e-4)
    assert stats.wilson(0, 0) is None


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_refuses_impossible_counts(k, n):
    with pytest.raises(ValueError):
        stats.wilson(k, n)


def test_wilson_stays_within_zero_and_one_and_contains_the_estimate():
    for n in range(1, 40):
        for k in range(n + 1):
            p = stats.wilson(k, n)
            assert 0 <= p.low <= p.p <= p.high <= 1


def test_groups_of_ten_are_suppressed_and_of_eleven_shown():
    assert stats.suppressed_cells({"a": 11, "b": 12, "c": 40}) == {}
    hidden = stats.suppressed_cells({"a": 10, "b": 11, "c": 12, "d": 40})
    assert hidden == {"a": "small", "b": "complementary"}


def test_a_lone_small_cell_takes_the_next_smallest_with_it():
    assert stats.suppressed_cells({"x": 3, "y": 50, "z": 20}) == {
        "x": "small",
        "z": "complementary",
    }


def test_two_small_cells_need_no_complement():
    assert stats.suppressed_cells({"x": 3, "y": 4, "z": 20}) == {"x": "small", "y": "small"}


def test_a_single_group_is_suppressed_only_when_small():
    assert stats.suppressed_cells({"all": 10}) == {"all": "small"}
    assert stats.suppressed_cells({"all": 11}) == {}
    assert stats.suppressed_cells({}) == {}


def test_none_is_a_group_like_any_other():
    assert stats.suppressed_cells({None: 2, "a": 30, "b": 31}) == {
        None: "small",
        "a": "complementary",
    }
