"""The shape every measurement instrument shares: items, options, bands, and the checks and
scoring built on them. Pure Python.

Owns validation (every problem, each naming its item), banding, and the generic sum score.
Instrument-specific rules (PHQ-9 item 9, PCL-5 clusters, C-SSRS risk) live in their own
modules as small subclasses overriding the `_total`, `_detail`, `_total_detail` and `safety`
hooks. Nothing here stores answers, reads a clock or knows about forms.

Answers are always `{item_id: int}`: item ids and numeric answers, never item wording
(DOMAIN.md section 1: store ids and numbers; ship wording only where the licence allows).
"""

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise


@dataclass(frozen=True)
class Option:
    """One answer choice: the stored number and its printed label."""

    value: int
    label: str


@dataclass(frozen=True)
class Item:
    """One question. `text` is None when the licence does not allow shipping its wording;
    `label` is a short neutral name that is always safe to show ("Item 9", "Question 4")."""

    id: str
    text: str | None
    label: str
    options: tuple[Option, ...]
    required: bool = True
    scored: bool = True
    loinc: str | None = None

    @property
    def values(self) -> frozenset[int]:
        return frozenset(option.value for option in self.options)


@dataclass(frozen=True)
class Band:
    """A closed score range [low, high] with its label; `severity` counts up from 0 for
    colouring (0 = least severe)."""

    low: int
    high: int
    label: str
    severity: int

    def __contains__(self, total: object) -> bool:
        return isinstance(total, int) and self.low <= total <= self.high


@dataclass(frozen=True)
class AnswerError:
    """One problem with an answer set or an entered total. `code` is one of
    "answer.missing", "answer.out_of_range", "answer.unknown_item", "total.out_of_range",
    "total.missing". Messages never repeat the answer given (it is health information)."""

    item_id: str | None
    code: str
    message: str


@dataclass(frozen=True)
class SafetyFlag:
    """A finding a clinician must act on. `level` is "moderate" or "high"."""

    code: str
    message: str
    level: str


@dataclass(frozen=True)
class Score:
    """A scored administration. `detail` holds instrument-specific results that are plain
    JSON values (PCL-5 cluster sums and provisional-PTSD rules, the C-SSRS risk label)."""

    total: int
    band: Band
    detail: dict


class Entry(StrEnum):
    """How an instrument is recorded: item by item, or only its total (when the licence does
    not let us show the items)."""

    ITEMS = "items"
    TOTAL = "total"


RESPONDENTS = frozenset({"self", "clinician"})


def _is_int(value: object) -> bool:
    # bool is an int subclass; True is not a valid answer to a 0-3 item, so refuse it.
    return isinstance(value, int) and not isinstance(value, bool)


def _value_range(item: Item) -> str:
    values = sorted(item.values)
    if values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}"
    return ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class Instrument:
    """A scored questionnaire or rating scale, its bands and change rules.

    `response_drop`: response is a drop from baseline of at least this fraction (0.5 means
    >= 50%). `remission_max`: remission is a total at or below this. Either is None where the
    instrument defines no such rule. Totals are whole points on the instrument's own scale.
    """

    code: str
    name: str
    short_name: str
    respondent: str
    entry: Entry
    items: tuple[Item, ...]
    min_total: int
    max_total: int
    bands: tuple[Band, ...]
    loinc_panel: str | None
    loinc_total: str | None
    licence: str
    response_drop: float | None
    remission_max: int | None
    higher_is_worse: bool = True

    def __post_init__(self) -> None:
        """Refuse a definition that could mis-score: a gap or overlap in the bands, items on
        a total-only instrument, duplicate ids."""
        problems: list[str] = []
        if self.respondent not in RESPONDENTS:
            problems.append(f"respondent must be one of {sorted(RESPONDENTS)}")
        if self.entry is Entry.TOTAL and self.items:
            problems.append("a total-entry instrument has no items")
        if self.entry is Entry.ITEMS and not self.items:
            problems.append("an item-entry instrument needs items")
        ids = [item.id for item in self.items]
        if len(ids) != len(set(ids)):
            problems.append("item ids must be unique")
        for item in self.items:
            if not item.options or len(item.values) != len(item.options):
                problems.append(f"{item.id}: options must be non-empty with unique values")
        if self.min_total > self.max_total:
            problems.append("min_total is above max_total")
        if not self.bands:
            problems.append("bands are required")
        else:
            if self.bands[0].low != self.min_total or self.bands[-1].high != self.max_total:
                problems.append("bands must run from min_total to max_total")
            for band in self.bands:
                if band.low > band.high:
                    problems.append(f"band {band.label!r} is empty")
            for before, after in pairwise(self.bands):
                if after.low != before.high + 1:
                    problems.append(f"bands {before.label!r} and {after.label!r} do not meet")
        if self.response_drop is not None and not 0 < self.response_drop <= 1:
            problems.append("response_drop must be a fraction in (0, 1]")
        if problems:
            raise ValueError(f"{self.code}: " + "; ".join(problems))

    # ---- checking ----------------------------------------------------------------------

    def validate(self, answers: dict[str, int]) -> list[AnswerError]:
        """Every problem with an answer set, in item order, each naming its item: required
        items missing, answers that are not one of the item's option values (including
        anything that is not a whole number), and ids the instrument does not have."""
        if self.entry is Entry.TOTAL:
            errors = [
                AnswerError(
                    None,
                    "total.missing",
                    f"{self.short_name} is recorded as a total score only; enter the total.",
                )
            ]
            return errors + self._unknown_item_errors(answers)
        errors = []
        for item in self.items:
            if item.id not in answers:
                if item.required:
                    errors.append(self._missing(item))
                continue
            value = answers[item.id]
            if not _is_int(value) or value not in item.values:
                errors.append(self._out_of_range(item))
        return errors + self._unknown_item_errors(answers)

    def validate_total(self, total: int | None) -> list[AnswerError]:
        """Problems with a directly entered total: none given, not a whole number, or outside
        [min_total, max_total]."""
        if total is None:
            return [AnswerError(None, "total.missing", f"Enter the {self.short_name} total.")]
        if not _is_int(total) or not self.min_total <= total <= self.max_total:
            return [
                AnswerError(
                    None,
                    "total.out_of_range",
                    f"The {self.short_name} total must be a whole number from "
                    f"{self.min_total} to {self.max_total}.",
                )
            ]
        return []

    def _missing(self, item: Item) -> AnswerError:
        return AnswerError(item.id, "answer.missing", f"“{item.label}” needs an answer.")

    def _out_of_range(self, item: Item) -> AnswerError:
        return AnswerError(
            item.id,
            "answer.out_of_range",
            f"“{item.label}” must be one of {_value_range(item)}.",
        )

    def _unknown_item_errors(self, answers: dict) -> list[AnswerError]:
        known = {item.id for item in self.items}
        return [
            AnswerError(
                str(key), "answer.unknown_item", f"{self.short_name} has no item with this id."
            )
            for key in answers
            if key not in known
        ]

    # ---- scoring -----------------------------------------------------------------------

    def score(self, answers: dict[str, int]) -> Score:
        """Score a complete answer set. Raises ValueError naming every problem if
        `validate(answers)` is not empty."""
        errors = self.validate(answers)
        if errors:
            raise ValueError("; ".join(error.message for error in errors))
        total = self._total(answers)
        return Score(total, self.band_for(total), self._detail(answers, total))

    def score_total(self, total: int) -> Score:
        """Score a directly entered total (total-entry instruments, or a total copied from
        an earlier record). Raises ValueError if `validate_total(total)` is not empty."""
        errors = self.validate_total(total)
        if errors:
            raise ValueError("; ".join(error.message for error in errors))
        return Score(total, self.band_for(total), self._total_detail(total))

    def band_for(self, total: int) -> Band:
        """The band holding `total`. Raises ValueError outside [min_total, max_total]."""
        for band in self.bands:
            if total in band:
                return band
        raise ValueError(f"{self.short_name} totals run from {self.min_total} to {self.max_total}.")

    def safety(self, answers: dict[str, int]) -> list[SafetyFlag]:
        """Findings a clinician must act on; [] when none. Reads whatever answers are
        present (an incomplete set can still raise a flag) and never raises."""
        return []

    # Hooks for instrument modules. `answers` has passed validate() when these are called.

    def _total(self, answers: dict[str, int]) -> int:
        return sum(answers[item.id] for item in self.items if item.scored and item.id in answers)

    def _detail(self, answers: dict[str, int], total: int) -> dict:
        return self._total_detail(total)

    def _total_detail(self, total: int) -> dict:
        return {}


# ---- change over a course -----------------------------------------------------------------


def change_from_baseline(baseline: int, current: int) -> int:
    """current - baseline, in the instrument's points. On a higher-is-worse scale a negative
    change is an improvement."""
    return current - baseline


def is_response(instrument: Instrument, baseline: int, current: int) -> bool | None:
    """Treatment response: an improvement of at least `response_drop` of the baseline total
    (PHQ-9 and GAD-7: >= 50% drop [NCQA HEDIS DRR-E]). Exactly the threshold counts.
    None when the instrument defines no response or the baseline is 0 (no drop possible)."""
    if instrument.response_drop is None or baseline <= 0:
        return None
    improvement = baseline - current if instrument.higher_is_worse else current - baseline
    # Fractions, not floats: 0.35 * 20 must be exactly 7.
    return improvement >= Fraction(str(instrument.response_drop)) * baseline


def is_remission(instrument: Instrument, current: int) -> bool | None:
    """Remission: a total at or below `remission_max` (PHQ-9 < 5 [NCQA HEDIS DRR-E]).
    None when the instrument defines no remission."""
    if instrument.remission_max is None:
        return None
    return current <= instrument.remission_max
