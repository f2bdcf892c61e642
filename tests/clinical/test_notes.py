"""Note templates and signing rules (kapflow.clinical.notes): pure, no database."""

import pytest

from kapflow.clinical.notes import (
    FORMATS,
    MEDICAL_SESSION_TYPES,
    SESSION_TYPES,
    TEMPLATES,
    content_digest,
    missing_sections,
    note_template,
    signature_matches,
)


def test_every_session_type_has_a_dap_and_a_soap_template():
    assert set(TEMPLATES) == {(t, f) for t in SESSION_TYPES for f in FORMATS}
    assert set(SESSION_TYPES) == {
        "intake", "preparation", "dosing", "integration", "followup", "therapy"
    }  # fmt: skip


def test_dap_sections_are_data_assessment_plan_in_order():
    assert note_template("therapy", "dap").keys == ("data", "assessment", "plan")


def test_soap_sections_are_subjective_objective_assessment_plan_in_order():
    assert note_template("therapy", "soap").keys == (
        "subjective", "objective", "assessment", "plan"
    )  # fmt: skip


def test_dosing_note_objective_prompts_for_route_dose_vitals_and_events():
    objective = next(s for s in note_template("dosing", "soap").sections if s.key == "objective")
    for word in ("Route", "dose", "BP", "SpO2", "events"):
        assert word in objective.prompt


def test_dosing_note_adds_a_required_discharge_section_in_both_formats():
    for fmt in FORMATS:
        template = note_template("dosing", fmt)
        assert template.keys[-1] == "discharge"
        assert "discharge" in template.required_keys


def test_intake_note_adds_a_risk_screen():
    assert "risk" in note_template("intake", "dap").keys


def test_integration_prompts_ask_for_insights_and_plan():
    template = note_template("integration", "dap")
    prompts = {s.key: s.prompt for s in template.sections}
    assert "Insights" in prompts["data"] and "practices" in prompts["plan"]


def test_every_section_has_a_label_and_a_prompt():
    for template in TEMPLATES.values():
        assert template.title
        for section in template.sections:
            assert section.label and len(section.prompt) > 20


def test_unknown_template_is_a_key_error():
    with pytest.raises(KeyError):
        note_template("dosing", "narrative")


def test_missing_sections_lists_empty_required_sections_in_order():
    template = note_template("dosing", "soap")
    missing = missing_sections(template, {"subjective": "Calm.", "objective": "   ", "plan": ""})
    assert [s.key for s in missing] == ["objective", "assessment", "plan", "discharge"]


def test_nothing_missing_when_every_required_section_has_text():
    template = note_template("therapy", "dap")
    assert missing_sections(template, dict.fromkeys(template.keys, "x")) == []


def test_signature_matches_ignores_case_and_spacing():
    assert signature_matches("  ada   LOVELACE ", "Ada Lovelace")
    assert signature_matches("Ｊｏｓé Díaz", "José Díaz")  # NFKC full-width letters


def test_signature_must_be_the_full_name():
    assert not signature_matches("Ada", "Ada Lovelace")
    assert not signature_matches("", "Ada Lovelace")


def test_a_user_without_a_name_can_never_sign():
    assert not signature_matches("", "")


def test_content_digest_is_stable_and_changes_with_the_text():
    args = {"session_type": "dosing", "fmt": "soap", "kind": "progress", "signed_by": "A B"}
    one = content_digest(sections={"plan": "x", "assessment": "y"}, **args)
    assert one == content_digest(sections={"assessment": "y", "plan": "x"}, **args)
    assert len(one) == 64 and one != content_digest(sections={"plan": "z"}, **args)


def test_medical_session_types_are_dosing_and_followup():
    assert {"dosing", "followup"} == MEDICAL_SESSION_TYPES
