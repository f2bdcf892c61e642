"""The eligibility screen: one test per rule, edges at every threshold, and properties."""

import json
import random
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapflow.clinical.eligibility import (
    CHECKLIST,
    CHECKLIST_BY_CODE,
    SEVERITY_LABELS,
    SEVERITY_ORDER,
    UNRECOGNISED_CODE,
    EligibilityPolicy,
    EvaluationInput,
    Finding,
    MedicationEntry,
    Pregnancy,
    Severity,
    bmi,
    eligibility_screen,
    findings_summary,
    medications_to_review,
    review_check,
)
from kapflow.clinical.medications import CATALOGUE, medication_key

ON = date(2026, 5, 1)
ALL_NO = {item.code: False for item in CHECKLIST}
CLEAN = EvaluationInput(
    on_date=ON,
    birth_date=date(1990, 1, 1),
    checklist=ALL_NO,
    medications=(),
    bp_systolic=120,
    bp_diastolic=80,
    heart_rate=70,
    weight_kg=70.0,
    height_cm=175.0,
    pregnancy=Pregnancy.NOT_PREGNANT,
    diagnoses=("F33.1",),
    ongoing_therapy=True,
    suicide_screen_positive=False,
    at_home=False,
)


def screen(**changes) -> list[Finding]:
    return eligibility_screen(replace(CLEAN, **changes))


def codes(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings]


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, codes(findings)
    return findings[0]


def with_meds(*entries: MedicationEntry) -> list[Finding]:
    return screen(medications=entries)


# ---- the clean case ----------------------------------------------------------------------


def test_complete_clean_evaluation_gives_no_findings():
    assert eligibility_screen(CLEAN) == []


# ---- age ---------------------------------------------------------------------------------


def test_under_18_excluded():
    finding = only(screen(birth_date=date(2008, 5, 2)))  # 18 tomorrow
    assert (finding.code, finding.severity) == ("age.under_18", Severity.EXCLUDE)


def test_18th_birthday_is_eligible_age():
    assert screen(birth_date=date(2008, 5, 1)) == []


def test_missing_birth_date_is_missing():
    finding = only(screen(birth_date=None))
    assert (finding.code, finding.severity) == ("missing.birth_date", Severity.MISSING)


# ---- checklist ---------------------------------------------------------------------------


@pytest.mark.parametrize("item", CHECKLIST, ids=[item.code for item in CHECKLIST])
def test_every_checklist_item_yes_gives_its_finding(item):
    finding = only(screen(checklist={**ALL_NO, item.code: True}))
    assert finding == Finding(item.code, item.severity, item.finding, item.source)


def test_checklist_codes_are_stable_prefixed_and_unique():
    item_codes = [item.code for item in CHECKLIST]
    assert all(code.startswith("contra.") for code in item_codes)
    assert len(item_codes) == len(set(item_codes)) == len(CHECKLIST_BY_CODE)


def test_checklist_covers_the_domain_contraindications():
    assert {item.code for item in CHECKLIST} >= {
        "contra.hypersensitivity",
        "contra.vascular",
        "contra.uncontrolled_hypertension",
        "contra.unstable_cardiovascular",
        "contra.psychotic_disorder",
        "contra.current_psychosis",
        "contra.current_mania",
        "contra.bipolar_i",
        "contra.substance_use",
        "contra.intracranial_pressure",
        "contra.intraocular_pressure",
        "contra.hepatic_impairment",
        "contra.ketamine_cystitis",
        "contra.suicidal_intent",
        "contra.alcohol",
    }


def test_checklist_severities_match_domain():
    relative = {
        "contra.bipolar_i",
        "contra.substance_use",
        "contra.intracranial_pressure",
        "contra.intraocular_pressure",
        "contra.hepatic_impairment",
        "contra.ketamine_cystitis",
    }
    for item in CHECKLIST:
        if item.code in relative:
            assert item.severity is Severity.RELATIVE, item.code
        elif item.code == "contra.alcohol":
            assert item.severity is Severity.INTERACTION
        else:
            assert item.severity is Severity.EXCLUDE, item.code


def test_suicidal_intent_says_at_home_dosing_is_never_appropriate():
    assert "at-home dosing is never appropriate" in (
        CHECKLIST_BY_CODE["contra.suicidal_intent"].finding.lower()
    )


def test_unanswered_checklist_is_one_missing_finding_naming_every_question():
    answers = {**ALL_NO, "contra.current_mania": None}
    del answers["contra.hypersensitivity"]
    finding = only(screen(checklist=answers))
    assert (finding.code, finding.severity) == ("missing.checklist", Severity.MISSING)
    assert finding.message.startswith("2 checklist questions not answered")
    assert CHECKLIST_BY_CODE["contra.current_mania"].question in finding.message
    assert CHECKLIST_BY_CODE["contra.hypersensitivity"].question in finding.message


def test_empty_checklist_lists_all_questions():
    finding = only(screen(checklist={}))
    assert finding.message.startswith(f"{len(CHECKLIST)} checklist questions")
    assert all(item.question in finding.message for item in CHECKLIST)


def test_unknown_checklist_keys_are_ignored():
    assert screen(checklist={**ALL_NO, "contra.not_a_question": True}) == []


# ---- pregnancy ---------------------------------------------------------------------------


def test_pregnant_excluded():
    finding = only(screen(pregnancy=Pregnancy.PREGNANT))
    assert (finding.code, finding.severity, finding.source) == (
        "pregnancy.pregnant",
        Severity.EXCLUDE,
        "Spravato PI 8.1",
    )


def test_breastfeeding_excluded():
    finding = only(screen(pregnancy=Pregnancy.BREASTFEEDING))
    assert (finding.code, finding.severity, finding.source) == (
        "pregnancy.breastfeeding",
        Severity.EXCLUDE,
        "Spravato PI 8.2",
    )


def test_pregnancy_unknown_is_missing():
    finding = only(screen(pregnancy=Pregnancy.UNKNOWN))
    assert (finding.code, finding.severity) == ("missing.pregnancy", Severity.MISSING)


def test_pregnancy_not_applicable_gives_nothing():
    assert screen(pregnancy=Pregnancy.NOT_APPLICABLE) == []


# ---- blood pressure ----------------------------------------------------------------------


@pytest.mark.parametrize(("systolic", "diastolic"), [(None, 80), (120, None), (None, None)])
def test_bp_missing_is_missing(systolic, diastolic):
    finding = only(screen(bp_systolic=systolic, bp_diastolic=diastolic))
    assert (finding.code, finding.severity) == ("missing.bp", Severity.MISSING)


def test_bp_exactly_at_relative_threshold_gives_nothing():
    assert screen(bp_systolic=140, bp_diastolic=90) == []


@pytest.mark.parametrize(("systolic", "diastolic"), [(141, 90), (140, 91), (179, 109)])
def test_bp_above_relative_threshold_is_relative(systolic, diastolic):
    finding = only(screen(bp_systolic=systolic, bp_diastolic=diastolic))
    assert (finding.code, finding.severity) == ("bp.raised", Severity.RELATIVE)
    assert f"{systolic}/{diastolic}" in finding.message


@pytest.mark.parametrize(("systolic", "diastolic"), [(180, 80), (130, 110), (172, 114)])
def test_bp_at_or_above_exclude_threshold_is_exclude(systolic, diastolic):
    finding = only(screen(bp_systolic=systolic, bp_diastolic=diastolic))
    assert (finding.code, finding.severity) == ("bp.uncontrolled", Severity.EXCLUDE)
    assert f"Blood pressure {systolic}/{diastolic}" in finding.message


def test_bp_thresholds_come_from_policy():
    strict = EligibilityPolicy(bp_relative_systolic=130, bp_exclude_systolic=150)
    evaluation = replace(CLEAN, bp_systolic=135, bp_diastolic=80)
    assert codes(eligibility_screen(evaluation, policy=strict)) == ["bp.raised"]
    evaluation = replace(CLEAN, bp_systolic=150, bp_diastolic=80)
    assert codes(eligibility_screen(evaluation, policy=strict)) == ["bp.uncontrolled"]


# ---- BMI ---------------------------------------------------------------------------------


def test_bmi_is_weight_over_height_squared():
    assert bmi(70.0, 175.0) == pytest.approx(22.857, abs=0.001)


@pytest.mark.parametrize(
    ("weight", "height"), [(None, 175.0), (70.0, None), (70.0, 0.0), (0.0, 175.0)]
)
def test_bmi_is_none_without_both_positive_measures(weight, height):
    assert bmi(weight, height) is None


def test_bmi_exactly_35_gives_nothing():
    assert bmi(140.0, 200.0) == 35.0
    assert screen(weight_kg=140.0, height_cm=200.0) == []


def test_bmi_above_35_is_relative():
    finding = only(screen(weight_kg=140.4, height_cm=200.0))
    assert (finding.code, finding.severity) == ("bmi.high", Severity.RELATIVE)
    assert "35.1" in finding.message


def test_bmi_not_measured_gives_no_finding():
    assert screen(weight_kg=None, height_cm=None) == []


# ---- medications -------------------------------------------------------------------------


def test_maoi_is_flagged_as_interaction():
    finding = only(with_meds(MedicationEntry("Nardil", rxcui="8123")))
    assert (finding.code, finding.severity, finding.source) == (
        "interaction.maoi",
        Severity.INTERACTION,
        "Spravato PI 7",
    )
    assert "phenelzine" in finding.message


def test_stimulant_is_flagged_as_interaction():
    finding = only(with_meds(MedicationEntry("methylphenidate", rxcui="6901")))
    assert (finding.code, finding.severity) == ("interaction.stimulant", Severity.INTERACTION)
    assert "methylphenidate" in finding.message


def test_benzodiazepine_is_flagged_as_interaction():
    finding = only(with_meds(MedicationEntry("lorazepam", rxcui="6470", daily_dose_mg=1)))
    assert (finding.code, finding.severity) == ("interaction.benzodiazepine", Severity.INTERACTION)
    assert "lorazepam" in finding.message


def test_benzodiazepine_high_dose_edge_via_equivalence():
    # lorazepam: 1 mg ~ 10 mg diazepam, so 2 mg/day reaches the 20 mg threshold exactly.
    below = with_meds(MedicationEntry("lorazepam", rxcui="6470", daily_dose_mg=1.9))
    at = with_meds(MedicationEntry("lorazepam", rxcui="6470", daily_dose_mg=2))
    assert codes(below) == ["interaction.benzodiazepine"]
    assert codes(at) == ["interaction.benzodiazepine_high_dose", "interaction.benzodiazepine"]
    high = at[0]
    assert high.severity is Severity.RELATIVE
    assert "20 mg" in high.message


def test_benzodiazepine_high_dose_sums_across_benzodiazepines():
    findings = with_meds(
        MedicationEntry("alprazolam", rxcui="596", daily_dose_mg=0.5),  # ~10 mg diazepam
        MedicationEntry("diazepam", rxcui="3322", daily_dose_mg=10),  # 10 mg diazepam
    )
    assert "interaction.benzodiazepine_high_dose" in codes(findings)


def test_benzodiazepine_high_dose_threshold_comes_from_policy():
    evaluation = replace(
        CLEAN, medications=(MedicationEntry("diazepam", rxcui="3322", daily_dose_mg=10),)
    )
    policy = EligibilityPolicy(benzodiazepine_high_dose_diazepam_mg=10)
    assert "interaction.benzodiazepine_high_dose" in codes(
        eligibility_screen(evaluation, policy=policy)
    )


def test_benzodiazepine_without_dose_says_so_and_skips_high_dose():
    finding = only(with_meds(MedicationEntry("clonazepam", rxcui="2598")))
    assert finding.code == "interaction.benzodiazepine"
    assert "Daily dose not recorded for clonazepam" in finding.message


def test_opioid_is_flagged_as_cns_depressant():
    finding = only(with_meds(MedicationEntry("oxycodone", rxcui="7804")))
    assert (finding.code, finding.severity) == ("interaction.cns_depressant", Severity.INTERACTION)
    assert "oxycodone" in finding.message


def test_other_cns_depressant_is_flagged_with_opioids_in_one_finding():
    finding = only(
        with_meds(
            MedicationEntry("zolpidem", rxcui="39993"),
            MedicationEntry("gabapentin", rxcui="25480"),
            MedicationEntry("tramadol", rxcui="10689"),
        )
    )
    assert finding.code == "interaction.cns_depressant"
    assert "(gabapentin, tramadol, zolpidem)" in finding.message


def test_lamotrigine_is_flagged_as_interaction():
    finding = only(with_meds(MedicationEntry("Lamictal", rxcui="28439")))
    assert (finding.code, finding.severity) == ("interaction.lamotrigine", Severity.INTERACTION)


def test_brand_name_without_code_is_matched():
    finding = only(with_meds(MedicationEntry("XANAX", daily_dose_mg=0.5)))
    assert finding.code == "interaction.benzodiazepine"
    assert "alprazolam" in finding.message


def test_free_text_name_without_code_is_matched():
    assert codes(with_meds(MedicationEntry("Adderall XR 20 mg"))) == ["interaction.stimulant"]


def test_unknown_code_falls_back_to_the_name():
    assert codes(with_meds(MedicationEntry("Parnate", rxcui="99999999"))) == ["interaction.maoi"]


def test_unrecognised_medication_is_a_finding_naming_it_as_typed():
    finding = only(with_meds(MedicationEntry("Grandma's herbal tea")))
    assert (finding.code, finding.severity) == (UNRECOGNISED_CODE, Severity.UNRECOGNISED)
    assert finding.medication == "Grandma's herbal tea"
    assert finding.message.startswith(
        '"Grandma\'s herbal tea" is not in the catalogue: review by hand.'
    )
    assert finding.source


def test_each_unrecognised_medication_is_its_own_finding_beside_the_known_ones():
    findings = with_meds(
        MedicationEntry("kratom"),
        MedicationEntry("Nardil", rxcui="8123"),
        MedicationEntry("ashwagandha 300 mg"),
    )
    assert [(f.code, f.medication) for f in findings] == [
        ("interaction.maoi", ""),
        (UNRECOGNISED_CODE, "ashwagandha 300 mg"),
        (UNRECOGNISED_CODE, "kratom"),
    ]
    assert medications_to_review(findings) == ["ashwagandha 300 mg", "kratom"]


def test_the_same_unrecognised_medication_typed_twice_is_one_finding():
    finding = only(with_meds(MedicationEntry("Kratom"), MedicationEntry("  kratom ")))
    assert finding.medication == "Kratom"


def test_an_unknown_code_without_a_name_is_named_by_its_code():
    finding = only(with_meds(MedicationEntry("", rxcui="99999999")))
    assert finding.medication == "RxNorm 99999999"


def test_an_empty_medication_row_gives_nothing():
    assert with_meds(MedicationEntry("", rxcui=""), MedicationEntry("   ")) == []


def test_unrecognised_finding_carries_its_medication_in_as_dict_only():
    (unknown,) = with_meds(MedicationEntry("kratom"))
    assert unknown.as_dict()["medication"] == "kratom"
    (maoi,) = with_meds(MedicationEntry("Nardil"))
    assert "medication" not in maoi.as_dict()


# ---- the acknowledgement of unrecognised medicines (decision 0028) -----------------------

_TWO_UNKNOWN = (MedicationEntry("Kratom"), MedicationEntry("St Ives tonic"))


def test_review_check_lists_every_medicine_not_ticked():
    check = review_check(with_meds(*_TWO_UNKNOWN), [])
    assert check.missing == ("Kratom", "St Ives tonic")
    assert (check.confirmed, check.unknown, check.complete) == ((), (), False)


def test_review_check_matches_ticks_ignoring_case_and_spacing():
    check = review_check(with_meds(*_TWO_UNKNOWN), ["kratom", "st  ives TONIC"])
    assert check.confirmed == ("Kratom", "St Ives tonic")
    assert (check.missing, check.unknown, check.complete) == ((), (), True)


def test_review_check_a_tick_for_one_medicine_does_not_clear_another():
    check = review_check(with_meds(*_TWO_UNKNOWN), ["Kratom"])
    assert (check.confirmed, check.missing) == (("Kratom",), ("St Ives tonic",))
    assert not check.complete


def test_review_check_flags_a_tick_for_a_medicine_not_listed():
    check = review_check(with_meds(*_TWO_UNKNOWN), ["Kratom", "St Ives tonic", "aspirin"])
    assert check.unknown == ("aspirin",)
    assert not check.complete


def test_review_check_with_nothing_to_review_is_complete():
    check = review_check(with_meds(MedicationEntry("Nardil")), [])
    assert check.complete and check.confirmed == ()


# ---- the widened catalogue: each medicine and its caution ---------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # Lithium and other mood stabilisers: bipolar disorder, mania (Sanacora 2017).
        ("lithium", ["interaction.mood_stabiliser"]),
        ("Lithium carbonate 300 mg twice daily", ["interaction.mood_stabiliser"]),
        ("LITHOBID", ["interaction.mood_stabiliser"]),
        ("Depakote", ["interaction.mood_stabiliser"]),
        ("carbamazepine", ["interaction.enzyme_inducer", "interaction.mood_stabiliser"]),
        ("Lamictal", ["interaction.lamotrigine"]),
        # St John's wort: lowers ketamine levels (Peltoniemi 2012).
        ("St John's wort", ["interaction.enzyme_inducer"]),
        ("St. John\u2019s Wort 300 mg", ["interaction.enzyme_inducer"]),
        ("st johns wort", ["interaction.enzyme_inducer"]),
        ("Saint John's wort", ["interaction.enzyme_inducer"]),
        ("Hypericum perforatum extract", ["interaction.enzyme_inducer"]),
        # Opioids: sedation and slowed breathing (Spravato PI 5.1, 7).
        ("oxycodone", ["interaction.cns_depressant"]),
        ("Percocet 5/325", ["interaction.cns_depressant"]),
        ("hydrocodone", ["interaction.cns_depressant"]),
        ("Norco", ["interaction.cns_depressant"]),
        ("morphine", ["interaction.cns_depressant"]),
        ("MS Contin", ["interaction.cns_depressant"]),
        ("tramadol", ["interaction.cns_depressant"]),
        ("fentanyl patch", ["interaction.cns_depressant"]),
        ("Duragesic", ["interaction.cns_depressant"]),
        # ... and the opioid use disorder treatments also ask about substance use.
        ("buprenorphine", ["interaction.addiction_treatment", "interaction.cns_depressant"]),
        ("Suboxone 8/2 mg", ["interaction.addiction_treatment", "interaction.cns_depressant"]),
        ("methadone", ["interaction.addiction_treatment", "interaction.cns_depressant"]),
        # Naltrexone: blunted ketamine's antidepressant effect (Williams 2018).
        ("naltrexone", ["interaction.addiction_treatment", "interaction.opioid_antagonist"]),
        ("Vivitrol", ["interaction.addiction_treatment", "interaction.opioid_antagonist"]),
        # NMDA receptor antagonists (Namenda PI 7.1).
        ("memantine", ["interaction.nmda_antagonist"]),
        ("Namenda XR", ["interaction.nmda_antagonist"]),
        ("dextromethorphan", ["interaction.nmda_antagonist"]),
        ("Auvelity", ["interaction.nmda_antagonist"]),  # with bupropion, no finding of its own
        # Antipsychotics: sedation; why are they taken (Spravato PI 5.1, 5.2, 7).
        ("quetiapine", ["interaction.antipsychotic"]),
        ("Seroquel XR", ["interaction.antipsychotic"]),
        ("olanzapine", ["interaction.antipsychotic"]),
        ("aripiprazole", ["interaction.antipsychotic"]),
        ("Abilify", ["interaction.antipsychotic"]),
        ("risperidone", ["interaction.antipsychotic"]),
        ("clozapine", ["interaction.antipsychotic"]),
        ("Rexulti", ["interaction.antipsychotic"]),
        ("haloperidol", ["interaction.antipsychotic"]),
        # Benzodiazepines and stimulants, already catalogued.
        ("Klonopin", ["interaction.benzodiazepine"]),
        ("Ativan", ["interaction.benzodiazepine"]),
        ("Vyvanse", ["interaction.stimulant"]),
        ("Ritalin", ["interaction.stimulant"]),
        ("modafinil", ["interaction.stimulant"]),
    ],
)
def test_catalogued_medicine_gives_its_caution(typed, expected):
    findings = with_meds(MedicationEntry(typed))
    assert codes(findings) == expected
    assert all(f.source and f.severity is Severity.INTERACTION for f in findings)


@pytest.mark.parametrize("typed", ["lithium", "  Lithium ", "LITHIUM", "lithium\t300 mg"])
def test_lithium_case_and_whitespace_variants_are_recognised(typed):
    finding = only(with_meds(MedicationEntry(typed)))
    assert finding.code == "interaction.mood_stabiliser"
    assert "lithium carbonate" in finding.message


def test_antipsychotic_finding_asks_why_it_is_taken():
    finding = only(with_meds(MedicationEntry("quetiapine", rxcui="51272")))
    assert "psychotic disorder" in finding.message and "quetiapine" in finding.message


def test_st_johns_wort_finding_says_it_lowers_ketamine_levels():
    finding = only(with_meds(MedicationEntry("St John's wort", rxcui="258326")))
    assert "st john's wort" in finding.message
    assert "Peltoniemi 2012" in finding.source


def test_lamotrigine_alone_is_not_also_a_mood_stabiliser_finding():
    assert codes(with_meds(MedicationEntry("lamotrigine"), MedicationEntry("lithium"))) == [
        "interaction.lamotrigine",
        "interaction.mood_stabiliser",
    ]
    finding = with_meds(MedicationEntry("lamotrigine"), MedicationEntry("lithium"))[1]
    assert "lamotrigine" not in finding.message


def test_non_interacting_medication_gives_nothing():
    assert with_meds(MedicationEntry("sertraline", rxcui="36437", daily_dose_mg=100)) == []


def test_medication_named_twice_is_named_once():
    finding = only(
        with_meds(MedicationEntry("Nardil", rxcui="8123"), MedicationEntry("phenelzine"))
    )
    assert finding.message.count("phenelzine") == 1


# ---- diagnoses ---------------------------------------------------------------------------


def test_psychotic_diagnosis_excluded():
    finding = only(screen(diagnoses=("F33.1", "F20.9")))
    assert (finding.code, finding.severity) == ("diagnosis.psychotic", Severity.EXCLUDE)
    assert "F20.9" in finding.message


def test_bipolar_diagnosis_is_relative():
    finding = only(screen(diagnoses=("f31.9",)))
    assert (finding.code, finding.severity) == ("diagnosis.bipolar", Severity.RELATIVE)


def test_substance_use_diagnosis_is_relative():
    finding = only(screen(diagnoses=("F10.20",)))
    assert (finding.code, finding.severity) == ("diagnosis.substance_use", Severity.RELATIVE)


@pytest.mark.parametrize("code", ["R45.851", "Z91.51"])
def test_suicide_risk_diagnosis_is_relative(code):
    finding = only(screen(diagnoses=(code,)))
    assert (finding.code, finding.severity) == ("diagnosis.suicide_risk", Severity.RELATIVE)


def test_invalid_diagnosis_code_is_ignored():
    assert screen(diagnoses=("F2X", "nonsense", "")) == []


# ---- screen and programme ----------------------------------------------------------------


def test_positive_suicide_screen_excluded():
    finding = only(screen(suicide_screen_positive=True))
    assert (finding.code, finding.severity, finding.source) == (
        "screen.suicide_risk_positive",
        Severity.EXCLUDE,
        "Columbia triage guidelines",
    )
    assert "same day" in finding.message


def test_positive_suicide_screen_at_home_says_no_home_dosing():
    finding = only(screen(suicide_screen_positive=True, at_home=True))
    assert "At-home dosing is not appropriate" in finding.message


def test_no_ongoing_therapy_excluded():
    finding = only(screen(ongoing_therapy=False))
    assert (finding.code, finding.severity, finding.source) == (
        "programme.no_ongoing_therapy",
        Severity.EXCLUDE,
        "Seed 001 (programme rule)",
    )


def test_ongoing_therapy_unknown_is_missing():
    finding = only(screen(ongoing_therapy=None))
    assert (finding.code, finding.severity) == ("missing.ongoing_therapy", Severity.MISSING)


# ---- ordering, determinism, summary ------------------------------------------------------

BUSY = replace(
    CLEAN,
    birth_date=None,
    checklist={**ALL_NO, "contra.bipolar_i": True, "contra.alcohol": True},
    bp_systolic=185,
    pregnancy=Pregnancy.UNKNOWN,
    medications=(
        MedicationEntry("Nardil", rxcui="8123"),
        MedicationEntry("Xanax", daily_dose_mg=2),
        MedicationEntry("oxycodone"),
    ),
    diagnoses=("F20.9", "F31.9"),
    suicide_screen_positive=True,
    ongoing_therapy=None,
)


def test_findings_sorted_by_severity_then_code():
    findings = eligibility_screen(BUSY)
    rank = {severity: n for n, severity in enumerate(SEVERITY_ORDER)}
    keys = [(rank[f.severity], f.code) for f in findings]
    assert keys == sorted(keys)
    assert findings[0].severity is Severity.EXCLUDE
    assert findings[-1].severity is Severity.MISSING


def test_screen_is_deterministic_and_has_no_duplicate_codes():
    first = eligibility_screen(BUSY)
    shuffled = list(BUSY.medications)
    random.Random(7).shuffle(shuffled)
    again = eligibility_screen(replace(BUSY, medications=tuple(reversed(shuffled))))
    assert first == again == eligibility_screen(BUSY)
    assert len(codes(first)) == len(set(codes(first)))  # no unrecognised medicine in BUSY


def test_findings_summary_counts_every_severity():
    summary = findings_summary(eligibility_screen(BUSY))
    assert list(summary) == list(SEVERITY_ORDER)
    assert summary == {
        Severity.EXCLUDE: 3,  # bp.uncontrolled, diagnosis.psychotic, screen positive
        Severity.RELATIVE: 3,  # contra.bipolar_i, diagnosis.bipolar, benzodiazepine high dose
        Severity.INTERACTION: 4,  # contra.alcohol, maoi, benzodiazepine, cns_depressant
        Severity.UNRECOGNISED: 0,
        Severity.MISSING: 3,  # birth date, pregnancy, ongoing therapy
    }
    assert findings_summary([]) == dict.fromkeys(SEVERITY_ORDER, 0)


def test_as_dict_is_json_able():
    data = [finding.as_dict() for finding in eligibility_screen(BUSY)]
    assert json.loads(json.dumps(data)) == data
    assert set(data[0]) == {"code", "severity", "message", "source"}
    assert data[0]["severity"] == "exclude"


def test_every_severity_has_a_label():
    assert set(SEVERITY_LABELS) == set(Severity) == set(SEVERITY_ORDER)


# ---- property ----------------------------------------------------------------------------

_NAMES = sorted({m.name for m in CATALOGUE} | {b for m in CATALOGUE for b in m.brands})
_RXCUIS = [m.rxcui for m in CATALOGUE]
_checklist = st.dictionaries(
    st.sampled_from([item.code for item in CHECKLIST]) | st.text(max_size=6),
    st.none() | st.booleans(),
)
_entry = st.builds(
    MedicationEntry,
    name=st.sampled_from(_NAMES) | st.text(max_size=30),
    rxcui=st.sampled_from(_RXCUIS) | st.text(max_size=8),
    daily_dose_mg=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
_evaluation = st.builds(
    EvaluationInput,
    on_date=st.dates(),
    birth_date=st.none() | st.dates(),
    checklist=_checklist,
    medications=st.lists(_entry, max_size=6).map(tuple),
    bp_systolic=st.none() | st.integers(-50, 400),
    bp_diastolic=st.none() | st.integers(-50, 300),
    heart_rate=st.none() | st.integers(0, 300),
    weight_kg=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    height_cm=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    pregnancy=st.sampled_from(Pregnancy),
    diagnoses=st.lists(
        st.sampled_from(["F33.1", "F20.9", "F31.9", "F10.20", "R45.851", "Z91.51"])
        | st.text(max_size=8),
        max_size=4,
    ).map(tuple),
    ongoing_therapy=st.none() | st.booleans(),
    suicide_screen_positive=st.booleans(),
    at_home=st.booleans(),
)


@given(_evaluation)
def test_screen_never_raises_and_every_finding_is_explained(evaluation):
    findings = eligibility_screen(evaluation)
    assert all(f.message.strip() and f.source.strip() for f in findings)
    assert all(isinstance(f.severity, Severity) for f in findings)
    keys = [(f.code, medication_key(f.medication)) for f in findings]
    assert len(keys) == len(set(keys))
    assert all(bool(f.medication) == (f.code == UNRECOGNISED_CODE) for f in findings)
    rank = {severity: n for n, severity in enumerate(SEVERITY_ORDER)}
    keys = [(rank[f.severity], f.code) for f in findings]
    assert keys == sorted(keys)
