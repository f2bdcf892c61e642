"""The medication catalogue: codes, classes, equivalents, lookup and search."""

from kapflow.clinical.medications import (
    CATALOGUE,
    DRUG_CLASS_LABELS,
    DrugClass,
    classes_for,
    medication_by_rxcui,
    medication_exact,
    medication_key,
    medication_search,
    medications_named,
)


def test_ketamine_is_rxcui_6130():
    ketamine = medication_by_rxcui("6130")
    assert ketamine is not None
    assert ketamine.name == "ketamine"
    assert "Ketalar" in ketamine.brands


def test_every_rxcui_is_digits_and_unique():
    codes = [medication.rxcui for medication in CATALOGUE]
    assert all(code.isdigit() for code in codes)
    assert len(codes) == len(set(codes))


def test_every_name_is_lower_case_and_unique():
    names = [medication.name for medication in CATALOGUE]
    assert all(name == name.lower().strip() for name in names)
    assert len(names) == len(set(names))


def test_catalogue_size_is_in_the_curated_range():
    assert 60 <= len(CATALOGUE) <= 90


def test_every_benzodiazepine_has_a_diazepam_equivalence_and_only_they_do():
    for medication in CATALOGUE:
        is_benzodiazepine = DrugClass.BENZODIAZEPINE in medication.classes
        has_equivalence = medication.diazepam_mg_equivalent is not None
        assert is_benzodiazepine == has_equivalence, medication.name
        if has_equivalence:
            assert medication.diazepam_mg_equivalent > 0


def test_diazepam_equivalences_follow_ashton():
    expected = {
        "alprazolam": 20.0,
        "clonazepam": 20.0,
        "lorazepam": 10.0,
        "diazepam": 1.0,
        "chlordiazepoxide": 0.4,
        "oxazepam": 0.5,
        "temazepam": 0.5,
    }
    by_name = {m.name: m.diazepam_mg_equivalent for m in CATALOGUE}
    assert {name: by_name[name] for name in expected} == expected


def test_every_medication_has_a_class_with_a_label():
    assert set(DRUG_CLASS_LABELS) == set(DrugClass)
    assert all(medication.classes for medication in CATALOGUE)


def test_every_maoi_the_screen_must_catch_is_catalogued_as_maoi():
    maois = {m.name for m in CATALOGUE if DrugClass.MAOI in m.classes}
    assert {
        "phenelzine",
        "tranylcypromine",
        "isocarboxazid",
        "selegiline",
        "rasagiline",
        "linezolid",
        "methylene blue",
    } <= maois


def test_classes_for_known_code():
    assert classes_for("8123") == frozenset({DrugClass.MAOI, DrugClass.ANTIDEPRESSANT})
    assert DrugClass.LAMOTRIGINE in classes_for("28439")


def test_classes_for_unknown_or_empty_code_is_empty():
    assert classes_for("999999999") == frozenset()
    assert classes_for("") == frozenset()


def test_lookup_ignores_surrounding_spaces():
    assert medication_by_rxcui(" 596 ").name == "alprazolam"


def test_search_by_name_prefix():
    names = [m.name for m in medication_search("sert")]
    assert names[0] == "sertraline"


def test_search_is_case_insensitive():
    assert [m.name for m in medication_search("PHENEL")] == ["phenelzine"]


def test_search_by_brand():
    assert [m.name for m in medication_search("xanax")] == ["alprazolam"]
    assert {m.name for m in medication_search("adderall")} == {"amphetamine", "dextroamphetamine"}


def test_search_puts_prefix_matches_before_inner_matches():
    names = [m.name for m in medication_search("amphetamine")]
    assert names[0] == "amphetamine"
    assert {"dextroamphetamine", "lisdexamfetamine"} & set(names[1:])
    assert names.index("amphetamine") < names.index("dextroamphetamine")


def test_search_by_alias():
    assert [m.name for m in medication_search("divalproex")] == ["valproate"]


def test_search_empty_query_returns_nothing():
    assert medication_search("") == []
    assert medication_search("   ") == []


def test_search_respects_limit():
    assert len(medication_search("a", limit=3)) == 3
    assert medication_search("a", limit=0) == []


def test_name_matching_exact_brand_and_free_text():
    assert [m.name for m in medications_named("Klonopin")] == ["clonazepam"]
    assert [m.name for m in medications_named("sertraline 50 mg daily")] == ["sertraline"]
    assert [m.name for m in medications_named("Adderall XR 20 mg")] == [
        "amphetamine",
        "dextroamphetamine",
    ]


def test_name_matching_unknown_returns_nothing():
    assert medications_named("vitamin D") == ()
    assert medications_named("") == ()


# ---- the widened catalogue (decision 0028) ------------------------------------------------


def _classes(name: str) -> frozenset[DrugClass]:
    (medication,) = [m for m in CATALOGUE if m.name == name]
    return medication.classes


def test_newly_catalogued_medicines_have_their_codes():
    assert {
        name: medication_by_rxcui(code).name
        for name, code in {
            "st john's wort": "258326",
            "dextromethorphan": "3289",
            "brexpiprazole": "1658314",
            "haloperidol": "5093",
        }.items()
    } == {
        "st john's wort": "st john's wort",
        "dextromethorphan": "dextromethorphan",
        "brexpiprazole": "brexpiprazole",
        "haloperidol": "haloperidol",
    }


def test_every_medicine_issue_12_names_is_catalogued_with_a_class_that_gives_a_finding():
    expected = {
        "lithium carbonate": DrugClass.MOOD_STABILISER,
        "lamotrigine": DrugClass.LAMOTRIGINE,
        "st john's wort": DrugClass.CYP_INDUCER,
        "oxycodone": DrugClass.OPIOID,
        "hydrocodone": DrugClass.OPIOID,
        "morphine": DrugClass.OPIOID,
        "buprenorphine": DrugClass.OPIOID,
        "methadone": DrugClass.OPIOID,
        "tramadol": DrugClass.OPIOID,
        "fentanyl": DrugClass.OPIOID,
        "naltrexone": DrugClass.OPIOID_ANTAGONIST,
        "memantine": DrugClass.NMDA_ANTAGONIST,
        "quetiapine": DrugClass.ANTIPSYCHOTIC,
        "olanzapine": DrugClass.ANTIPSYCHOTIC,
        "aripiprazole": DrugClass.ANTIPSYCHOTIC,
        "risperidone": DrugClass.ANTIPSYCHOTIC,
        "clozapine": DrugClass.ANTIPSYCHOTIC,
    }
    assert {name: drug_class in _classes(name) for name, drug_class in expected.items()} == (
        dict.fromkeys(expected, True)
    )


def test_opioid_use_disorder_treatments_are_marked():
    for name in ("buprenorphine", "methadone", "naltrexone"):
        assert DrugClass.ADDICTION_TREATMENT in _classes(name), name


def test_names_compare_without_case_apostrophes_full_stops_or_spacing():
    assert medication_key("  St. John\u2019s   Wort ") == medication_key("st johns wort")
    assert medication_key("Kratom") == medication_key("kratom ")


def test_st_johns_wort_spellings_all_match():
    for typed in ("St John's wort", "St. John's Wort", "ST JOHNS WORT", "Saint John's wort",
                  "St. John\u2019s wort 300 mg", "Hypericum", "SJW"):  # fmt: skip
        assert [m.name for m in medications_named(typed)] == ["st john's wort"], typed


def test_search_finds_st_johns_wort_as_typed_with_a_full_stop():
    assert [m.name for m in medication_search("St. John")] == ["st john's wort"]


def test_lithium_is_found_by_alias_and_brand():
    assert [m.name for m in medications_named("Lithium")] == ["lithium carbonate"]
    assert [m.name for m in medications_named("Eskalith CR")] == ["lithium carbonate"]


def test_combination_brands_name_both_ingredients():
    assert [m.name for m in medications_named("Auvelity")] == ["bupropion", "dextromethorphan"]
    assert [m.name for m in medications_named("Contrave")] == ["bupropion", "naltrexone"]
    assert [m.name for m in medications_named("Symbyax")] == ["fluoxetine", "olanzapine"]


def test_exact_match_codes_one_ingredient_only():
    assert medication_exact("Lithium").rxcui == "42351"
    assert medication_exact("St. John's Wort").rxcui == "258326"
    assert medication_exact("XANAX").name == "alprazolam"
    assert medication_exact("Adderall") is None  # two ingredients: left for the screen
    assert medication_exact("sertraline 50 mg") is None  # not exactly a name
    assert medication_exact("kratom") is None
