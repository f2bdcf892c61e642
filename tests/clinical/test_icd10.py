"""ICD-10-CM lookup, the diagnosis picker's search, and eligibility flags."""

import time

import pytest

from kapflow.clinical.icd10 import (
    Diagnosis,
    DiagnosisFlag,
    diagnosis_flags,
    diagnosis_get,
    diagnosis_search,
)


def test_f33_1_found_with_its_description():
    assert diagnosis_get("F33.1") == Diagnosis(
        "F33.1", "Major depressive disorder, recurrent, moderate", True
    )


@pytest.mark.parametrize("code", ["F331", "f33.1", " F33.1 ", "f 33.1"])
def test_lookup_accepts_any_case_with_or_without_dot(code):
    assert diagnosis_get(code).code == "F33.1"


def test_f32_a_is_valid():
    diagnosis = diagnosis_get("F32.A")
    assert diagnosis is not None
    assert diagnosis.billable


def test_category_is_found_but_not_billable():
    diagnosis = diagnosis_get("F33")
    assert diagnosis is not None
    assert not diagnosis.billable


@pytest.mark.parametrize("code", ["F99.99", "XYZ", "", "F33.1.1"])
def test_invalid_code_returns_none(code):
    assert diagnosis_get(code) is None


@pytest.mark.parametrize("code", ["F30-F39", "5"])
def test_blocks_and_chapters_are_not_codes(code):
    assert diagnosis_get(code) is None


def test_search_by_code_prefix_in_code_order():
    codes = [d.code for d in diagnosis_search("f33")]
    assert codes[:4] == ["F33", "F33.0", "F33.1", "F33.2"]
    assert all(code.startswith("F33") for code in codes)


def test_search_by_dotted_prefix():
    codes = [d.code for d in diagnosis_search("F33.4")]
    assert codes == ["F33.4", "F33.40", "F33.41", "F33.42"]


def test_search_by_words_needs_every_word_billable_first():
    results = diagnosis_search("major depressive recurrent", limit=50)
    assert results
    assert all(
        all(word in d.description.lower() for word in ("major", "depressive", "recurrent"))
        for d in results
    )
    billable = [d.billable for d in results]
    assert billable == sorted(billable, reverse=True)
    assert "F33.1" in [d.code for d in results]


def test_search_never_returns_blocks():
    codes = {d.code for d in diagnosis_search("mood", limit=500)}
    assert "F30-F39" not in codes
    assert all("-" not in code for code in codes)


def test_code_shaped_query_without_codes_falls_back_to_words():
    assert any("B12" in d.description for d in diagnosis_search("b12"))


def test_search_empty_query_returns_nothing():
    assert diagnosis_search("") == []
    assert diagnosis_search("  ") == []


def test_search_respects_limit():
    assert len(diagnosis_search("disorder", limit=5)) == 5


def test_search_after_the_first_is_fast():
    diagnosis_search("warm up")
    start = time.perf_counter()
    diagnosis_search("major depressive recurrent")
    assert time.perf_counter() - start < 0.2  # target ~30 ms; slack for slow CI machines


@pytest.mark.parametrize(
    ("code", "flag"),
    [
        ("F20.9", DiagnosisFlag.PSYCHOTIC),
        ("F25.0", DiagnosisFlag.PSYCHOTIC),
        ("F31.9", DiagnosisFlag.BIPOLAR),
        ("F10.20", DiagnosisFlag.SUBSTANCE_USE),
        ("F16.20", DiagnosisFlag.SUBSTANCE_USE),
        ("R45.851", DiagnosisFlag.SUICIDE_RISK),
        ("Z91.51", DiagnosisFlag.SUICIDE_RISK),
    ],
)
def test_flags(code, flag):
    assert diagnosis_flags(code) == frozenset({flag})


@pytest.mark.parametrize("code", ["F33.1", "F41.1", "F43.10", "R45.86"])
def test_no_flag_for_other_diagnoses(code):
    assert diagnosis_flags(code) == frozenset()


def test_invalid_code_has_no_flag():
    assert diagnosis_flags("F2X") == frozenset()


def test_importing_the_module_does_not_load_the_code_set():
    import subprocess
    import sys

    script = (
        "import sys, kapflow.clinical.icd10, kapflow.clinical.eligibility; "
        "print('simple_icd_10_cm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
