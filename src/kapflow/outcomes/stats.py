"""Confidence intervals and small-cell suppression for the practice outcomes report.

Pure Python (no Django, no SciPy), so every number the report prints can be checked by hand:

- `t_critical(df)`: the two-sided 95 % critical value of Student's t distribution;
- `mean_ci(...)`: the mean with its 95 % t interval, from n, mean and sample SD (the database
  computes those three; only this last step runs in Python);
- `wilson(k, n)`: a proportion with its 95 % Wilson score interval;
- `suppressed_cells(counts)`: which groups a de-identified table must not show.

Nothing here reads a clock, the database or settings.
"""

import math
import statistics
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

# The 0.975 quantile of the standard normal distribution (two-sided 95 %).
Z_95 = 1.959963984540054

# t(0.975, df) for df 1-30, to four decimals, as printed in standard tables (e.g. NIST/SEMATECH
# e-Handbook of Statistical Methods, section 1.3.6.7.2, "Critical values of the Student's t
# distribution").
T_95 = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060,
    9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314,
    16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796, 22: 2.0739,
    23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484, 29: 2.0452,
    30: 2.0423,
}  # fmt: skip

# Small-cell suppression: a group of fewer than this many clients is not shown (the usual
# threshold for de-identified health tables, e.g. the CMS cell-size suppression policy:
# no cell of 1 to 10 is published).
MIN_CELL = 11


def t_critical(df: int) -> float:
    """Two-sided 95 % critical value of Student's t with `df` degrees of freedom.

    df 1-30 come from the table above. Beyond 30 the Cornish-Fisher expansion of t in terms
    of the normal quantile (Abramowitz & Stegun 26.7.5, four terms) is used: it agrees with
    the exact value to four decimals from df 30 on (2.0423 at 30, 2.0211 at 40, 2.0003 at 60,
    1.9799 at 120) and tends to 1.96, so the interval never narrows abruptly at df 31 as a
    plain switch to 1.96 would. Raises ValueError for df < 1."""
    if not isinstance(df, int) or isinstance(df, bool) or df < 1:
        raise ValueError("degrees of freedom must be a whole number of at least 1")
    if df in T_95:
        return T_95[df]
    z, v = Z_95, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4


@dataclass(frozen=True)
class MeanCI:
    """A mean with its two-sided 95 % confidence interval. `low` and `high` are None when the
    interval is undefined (a single value has no spread)."""

    n: int
    mean: float
    low: float | None
    high: float | None


def mean_ci(*, n: int, mean: float, sd: float | None) -> MeanCI | None:
    """The mean of n values with its 95 % t interval: mean ± t(n-1) · sd / √n, where `sd` is
    the sample standard deviation (n - 1 denominator). None when n is 0."""
    if n <= 0:
        return None
    if n == 1 or sd is None:
        return MeanCI(n, float(mean), None, None)
    half = t_critical(n - 1) * float(sd) / math.sqrt(n)
    return MeanCI(n, float(mean), float(mean) - half, float(mean) + half)


def mean_ci_of(values: Iterable[float]) -> MeanCI | None:
    """`mean_ci` computed from the values themselves (for checks and small data sets)."""
    data = [float(v) for v in values]
    if not data:
        return None
    sd = statistics.stdev(data) if len(data) > 1 else None
    return mean_ci(n=len(data), mean=statistics.fmean(data), sd=sd)


@dataclass(frozen=True)
class Proportion:
    """k of n, with its 95 % Wilson score interval (fractions from 0 to 1)."""

    k: int
    n: int
    p: float
    low: float
    high: float


def wilson(k: int, n: int, *, z: float = Z_95) -> Proportion | None:
    """k successes out of n with the Wilson score interval (Wilson 1927; Newcombe 1998,
    method 3). Unlike the Wald interval it stays inside [0, 1] and is not empty at k = 0 or
    k = n; the bound at 0 (k = 0) and at 1 (k = n) is exact. None when n is 0."""
    if n < 0 or k < 0 or k > n:
        raise ValueError("need 0 <= k <= n")
    if n == 0:
        return None
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Proportion(k, n, p, low, high)


def suppressed_cells(
    counts: Mapping[Hashable, int], *, minimum: int = MIN_CELL
) -> dict[Hashable, str]:
    """The groups a de-identified table must hide, each with the reason: "small" for a group
    of fewer than `minimum` clients; "complementary" for the smallest other group when only
    one group is small, because the report also publishes the total (the "all" grouping),
    and the total minus the other groups would reveal the small one."""
    hidden = {key: "small" for key, n in counts.items() if n < minimum}
    if len(hidden) == 1 and len(counts) > 1:
        others = sorted((n, str(key), key) for key, n in counts.items() if key not in hidden)
        hidden[others[0][2]] = "complementary"
    return hidden
