"""ICD-10-CM diagnoses: lookup, the diagnosis picker's search, and the flags the eligibility
screen reads. Pure Python, over the `simple_icd_10_cm` package (CMS release bundled with it).

Owns code normalisation ("f331", " F33.1 " -> "F33.1"), which items count as diagnosis codes
(categories and subcategories; chapters and blocks such as "F30-F39" do not), and the code
ranges DOMAIN.md section 3 names for eligibility: psychotic disorders F20-F29, bipolar F31,
substance use F10-F19, suicidal ideation R45.851 and history of suicidal behaviour Z91.51.

The package parses its data file when first imported (about a second), so it is imported and
indexed lazily, once, on the first lookup; importing this module stays cheap.
"""

import bisect
import re
import warnings
from dataclasses import dataclass
from enum import StrEnum
from functools import cache


@dataclass(frozen=True)
class Diagnosis:
    code: str  # with the dot, e.g. "F33.1"
    description: str
    billable: bool  # a leaf code: valid on a claim


class DiagnosisFlag(StrEnum):
    PSYCHOTIC = "psychotic"
    BIPOLAR = "bipolar"
    SUBSTANCE_USE = "substance_use"
    SUICIDE_RISK = "suicide_risk"


DIAGNOSIS_FLAG_LABELS = {
    DiagnosisFlag.PSYCHOTIC: "Primary psychotic disorder",
    DiagnosisFlag.BIPOLAR: "Bipolar disorder",
    DiagnosisFlag.SUBSTANCE_USE: "Substance use disorder",
    DiagnosisFlag.SUICIDE_RISK: "Suicidal ideation or past suicidal behaviour",
}


@dataclass(frozen=True)
class _Index:
    keys: tuple[str, ...]  # undotted codes, sorted: prefix search by bisection
    diagnoses: tuple[Diagnosis, ...]  # parallel to keys
    lowered: tuple[str, ...]  # lower-case descriptions, parallel to keys
    by_key: dict[str, int]


@cache
def _index() -> _Index:
    with warnings.catch_warnings():  # the package still uses deprecated importlib APIs
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm  # heavy (parses its data file): deferred on purpose

    rows = []
    for code in cm.get_all_codes(with_dots=True):
        if not cm.is_category_or_subcategory(code):
            continue
        rows.append(
            (code.replace(".", ""), Diagnosis(code, cm.get_description(code), cm.is_leaf(code)))
        )
    rows.sort(key=lambda row: row[0])
    keys = tuple(key for key, _ in rows)
    diagnoses = tuple(diagnosis for _, diagnosis in rows)
    return _Index(
        keys=keys,
        diagnoses=diagnoses,
        lowered=tuple(d.description.lower() for d in diagnoses),
        by_key={key: i for i, key in enumerate(keys)},
    )


def _key(code: str) -> str:
    """Normalise a code for lookup: " f33.1 " -> "F331" (no spaces, no dot, upper case)."""
    return "".join(code.split()).replace(".", "").upper()


def diagnosis_get(code: str) -> Diagnosis | None:
    """The ICD-10-CM category or subcategory for `code`, given with or without the dot, in any
    case, with stray spaces; None when it is not a valid diagnosis code (chapters and blocks
    are not codes). Source: ICD-10-CM tabular list via simple_icd_10_cm."""
    index = _index()
    position = index.by_key.get(_key(code))
    return None if position is None else index.diagnoses[position]


_CODE_QUERY = re.compile(r"^[A-Z]\d[0-9A-Z]?(\.[0-9A-Z]{0,4})?$|^[A-Z]\d[0-9A-Z]{0,5}$")


def _prefix_search(index: _Index, prefix: str, limit: int) -> list[Diagnosis]:
    start = bisect.bisect_left(index.keys, prefix)
    found: list[Diagnosis] = []
    for position in range(start, len(index.keys)):
        if len(found) >= limit or not index.keys[position].startswith(prefix):
            break
        found.append(index.diagnoses[position])
    return found


def _word_search(index: _Index, words: list[str], limit: int) -> list[Diagnosis]:
    first, rest = words[0], words[1:]
    lowered = index.lowered
    hits = [i for i, text in enumerate(lowered) if first in text]
    if rest:
        hits = [i for i in hits if all(word in lowered[i] for word in rest)]
    billable = [i for i in hits if index.diagnoses[i].billable]
    other = [i for i in hits if not index.diagnoses[i].billable]
    return [index.diagnoses[i] for i in (billable + other)[:limit]]


def diagnosis_search(query: str, *, limit: int = 20) -> list[Diagnosis]:
    """The diagnosis picker's search (ICD-10-CM). A code-shaped query ("f33", "F33.4") returns
    the codes starting with it, in code order; otherwise every word must appear in the
    description (case-insensitive), billable codes first, then by code. A code-shaped query
    that matches no code is tried as words ("b12"). Empty query: []."""
    text = " ".join(query.split())
    if not text or limit <= 0:
        return []
    index = _index()
    if _CODE_QUERY.match(text.upper()):
        found = _prefix_search(index, _key(text), limit)
        if found:
            return found
    return _word_search(index, text.lower().split(), limit)


_FLAG_PREFIXES: tuple[tuple[str, DiagnosisFlag], ...] = (
    *((f"F2{digit}", DiagnosisFlag.PSYCHOTIC) for digit in "0123456789"),
    ("F31", DiagnosisFlag.BIPOLAR),
    *((f"F1{digit}", DiagnosisFlag.SUBSTANCE_USE) for digit in "0123456789"),
    ("R45851", DiagnosisFlag.SUICIDE_RISK),
    ("Z9151", DiagnosisFlag.SUICIDE_RISK),
)


def diagnosis_flags(code: str) -> frozenset[DiagnosisFlag]:
    """What a referral diagnosis means for eligibility (DOMAIN.md section 3): F20-F29 primary
    psychotic disorder; F31.x bipolar disorder; F10-F19 substance use, every code in the range
    including "in remission" ones and nicotine (F17), so the prescriber sees them and judges;
    R45.851 suicidal ideation and Z91.51 history of suicidal behaviour (and any code under
    them). Codes that are not valid ICD-10-CM diagnosis codes carry no flag."""
    diagnosis = diagnosis_get(code)
    if diagnosis is None:
        return frozenset()
    key = _key(diagnosis.code)
    return frozenset(flag for prefix, flag in _FLAG_PREFIXES if key.startswith(prefix))


__all__ = [
    "DIAGNOSIS_FLAG_LABELS",
    "Diagnosis",
    "DiagnosisFlag",
    "diagnosis_flags",
    "diagnosis_get",
    "diagnosis_search",
]
