"""A curated, RxNorm-coded medication catalogue for the medication picker and the interaction
screen. Pure Python.

Owns the list of ingredients that matter when a prescriber evaluates a client for
ketamine-assisted psychotherapy, the drug classes the eligibility screen reacts to
(DOMAIN.md section 2, "Interactions"), approximate diazepam equivalents for benzodiazepines,
and lookup and search over all of it. It decides nothing: `kapflow.clinical.eligibility` turns
classes into findings.

Codes are RxNorm ingredient concepts (term type IN). Products (strengths, forms, brands as
RxNorm concepts) are out of scope: a medication list entry is coded at the ingredient.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache


class DrugClass(StrEnum):
    MAOI = "maoi"
    STIMULANT = "stimulant"
    BENZODIAZEPINE = "benzodiazepine"
    OPIOID = "opioid"
    CNS_DEPRESSANT = "cns_depressant"  # z-drugs, barbiturates, gabapentinoids, sedating others
    LAMOTRIGINE = "lamotrigine"
    ANTIDEPRESSANT = "antidepressant"
    ANTIPSYCHOTIC = "antipsychotic"
    MOOD_STABILISER = "mood_stabiliser"
    ANTIHYPERTENSIVE = "antihypertensive"
    OTHER = "other"


DRUG_CLASS_LABELS: dict[DrugClass, str] = {
    DrugClass.MAOI: "Monoamine oxidase inhibitor (MAOI)",
    DrugClass.STIMULANT: "Psychostimulant",
    DrugClass.BENZODIAZEPINE: "Benzodiazepine",
    DrugClass.OPIOID: "Opioid",
    DrugClass.CNS_DEPRESSANT: "Other sedating medicine (CNS depressant)",
    DrugClass.LAMOTRIGINE: "Lamotrigine",
    DrugClass.ANTIDEPRESSANT: "Antidepressant",
    DrugClass.ANTIPSYCHOTIC: "Antipsychotic",
    DrugClass.MOOD_STABILISER: "Mood stabiliser",
    DrugClass.ANTIHYPERTENSIVE: "Blood pressure medicine",
    DrugClass.OTHER: "Other",
}


@dataclass(frozen=True)
class Medication:
    """One ingredient. `brands` are common US brand names, used for search and name matching
    only (they are not coded). `diazepam_mg_equivalent` is set for benzodiazepines only: the mg
    of diazepam taken as equal to 1 mg of this drug."""

    rxcui: str  # RxNorm ingredient (TTY=IN) concept id, as a string
    name: str  # lower-case ingredient name, e.g. "phenelzine"
    classes: frozenset[DrugClass]
    brands: tuple[str, ...] = ()
    diazepam_mg_equivalent: float | None = None


def _m(
    rxcui: str,
    name: str,
    *classes: DrugClass,
    brands: tuple[str, ...] = (),
    diazepam: float | None = None,
) -> Medication:
    return Medication(rxcui, name, frozenset(classes), brands, diazepam)


_D = DrugClass

# Where the codes were checked (2026): each RxCUI below was matched to its ingredient name in
# at least one public, RxNav-derived source, most in two or more:
#   - cpicpgx/cpic-schema drug.sql and cpicpgx/cpic-data (db/drug.sql; migration
#     V35__opioid_release.sql), the CPIC drug table ("RxNorm:<code>\t<name>");
#   - dhimmel/indications ehrlink/data/rxnorm-as-ingredient.tsv, clinical drugs mapped to
#     their IN concepts through the RxNav allrelated API;
#   - Hadlock-Lab/COVID-19_vaccination_in_pregnancy utilities/medications_cc_registry.py and
#     Hadlock-Lab/CEDA-Tools-v1.1 clinical_concepts/medication_concepts.py (ingredient lists);
#   - Wikidata's RxNorm CUI property (ketamine 6130), which also matches DOMAIN.md section 3.
# Left out because no source confirmed a code: safinamide, triazolam, tapentadol.
# Re-check every code against RxNav (https://rxnav.nlm.nih.gov) before production use.
#
# Benzodiazepine equivalents are approximate conversion factors after the Ashton manual
# (H. Ashton, "Benzodiazepines: how they work and how to withdraw", table of doses roughly
# equal to diazepam 10 mg). They estimate total sedative load; they are not a dosing guide.
CATALOGUE: tuple[Medication, ...] = (
    # Ketamine and esketamine: the medicines of the programme itself.
    _m("6130", "ketamine", _D.OTHER, brands=("Ketalar",)),
    _m("2119365", "esketamine", _D.OTHER, brands=("Spravato",)),
    # MAOIs, including the non-psychiatric ones (linezolid, methylene blue).
    _m("8123", "phenelzine", _D.MAOI, _D.ANTIDEPRESSANT, brands=("Nardil",)),
    _m("10734", "tranylcypromine", _D.MAOI, _D.ANTIDEPRESSANT, brands=("Parnate",)),
    _m("6011", "isocarboxazid", _D.MAOI, _D.ANTIDEPRESSANT, brands=("Marplan",)),
    _m("9639", "selegiline", _D.MAOI, brands=("Emsam", "Eldepryl", "Zelapar")),
    _m("134748", "rasagiline", _D.MAOI, brands=("Azilect",)),
    _m("190376", "linezolid", _D.MAOI, brands=("Zyvox",)),
    _m("6878", "methylene blue", _D.MAOI, brands=("ProvayBlue",)),
    # Psychostimulants and wake-promoting agents.
    _m("725", "amphetamine", _D.STIMULANT, brands=("Adderall", "Evekeo")),
    _m("3288", "dextroamphetamine", _D.STIMULANT, brands=("Adderall", "Dexedrine", "Zenzedi")),
    _m("700810", "lisdexamfetamine", _D.STIMULANT, brands=("Vyvanse",)),
    _m("6901", "methylphenidate", _D.STIMULANT, brands=("Ritalin", "Concerta")),
    _m("352372", "dexmethylphenidate", _D.STIMULANT, brands=("Focalin",)),
    _m("30125", "modafinil", _D.STIMULANT, brands=("Provigil",)),
    _m("641465", "armodafinil", _D.STIMULANT, brands=("Nuvigil",)),
    _m("8152", "phentermine", _D.STIMULANT, brands=("Adipex-P", "Lomaira")),
    # Benzodiazepines, with approximate diazepam equivalents (Ashton manual).
    _m("596", "alprazolam", _D.BENZODIAZEPINE, brands=("Xanax",), diazepam=20.0),
    _m("2598", "clonazepam", _D.BENZODIAZEPINE, brands=("Klonopin",), diazepam=20.0),
    _m("6470", "lorazepam", _D.BENZODIAZEPINE, brands=("Ativan",), diazepam=10.0),
    _m("3322", "diazepam", _D.BENZODIAZEPINE, brands=("Valium",), diazepam=1.0),
    _m("2356", "chlordiazepoxide", _D.BENZODIAZEPINE, brands=("Librium",), diazepam=0.4),
    _m("10355", "temazepam", _D.BENZODIAZEPINE, brands=("Restoril",), diazepam=0.5),
    _m("7781", "oxazepam", _D.BENZODIAZEPINE, diazepam=0.5),
    _m("21241", "clobazam", _D.BENZODIAZEPINE, brands=("Onfi", "Sympazan"), diazepam=0.5),
    # Opioids.
    _m("7804", "oxycodone", _D.OPIOID, brands=("OxyContin", "Roxicodone", "Percocet")),
    _m("5489", "hydrocodone", _D.OPIOID, brands=("Norco", "Vicodin", "Hysingla")),
    _m("7052", "morphine", _D.OPIOID, brands=("MS Contin",)),
    _m("10689", "tramadol", _D.OPIOID, brands=("Ultram",)),
    _m("2670", "codeine", _D.OPIOID),
    _m("4337", "fentanyl", _D.OPIOID, brands=("Duragesic",)),
    _m("6813", "methadone", _D.OPIOID, brands=("Dolophine", "Methadose")),
    _m("1819", "buprenorphine", _D.OPIOID, brands=("Suboxone", "Subutex", "Sublocade")),
    _m("3423", "hydromorphone", _D.OPIOID, brands=("Dilaudid",)),
    # Other CNS depressants: z-drugs, gabapentinoids, barbiturates, sedating others.
    _m("39993", "zolpidem", _D.CNS_DEPRESSANT, brands=("Ambien",)),
    _m("461016", "eszopiclone", _D.CNS_DEPRESSANT, brands=("Lunesta",)),
    _m("74667", "zaleplon", _D.CNS_DEPRESSANT, brands=("Sonata",)),
    _m("25480", "gabapentin", _D.CNS_DEPRESSANT, brands=("Neurontin", "Gralise")),
    _m("187832", "pregabalin", _D.CNS_DEPRESSANT, brands=("Lyrica",)),
    _m("19860", "butalbital", _D.CNS_DEPRESSANT, brands=("Fioricet", "Fiorinal")),
    _m("8134", "phenobarbital", _D.CNS_DEPRESSANT),
    _m("5553", "hydroxyzine", _D.CNS_DEPRESSANT, brands=("Vistaril", "Atarax")),
    _m("21949", "cyclobenzaprine", _D.CNS_DEPRESSANT, brands=("Flexeril", "Amrix")),
    _m("2101", "carisoprodol", _D.CNS_DEPRESSANT, brands=("Soma",)),
    # Lamotrigine: its own class because it may blunt the response to ketamine.
    _m("28439", "lamotrigine", _D.LAMOTRIGINE, _D.MOOD_STABILISER, brands=("Lamictal",)),
    # Common antidepressants.
    _m("36437", "sertraline", _D.ANTIDEPRESSANT, brands=("Zoloft",)),
    _m("4493", "fluoxetine", _D.ANTIDEPRESSANT, brands=("Prozac",)),
    _m("321988", "escitalopram", _D.ANTIDEPRESSANT, brands=("Lexapro",)),
    _m("2556", "citalopram", _D.ANTIDEPRESSANT, brands=("Celexa",)),
    _m("32937", "paroxetine", _D.ANTIDEPRESSANT, brands=("Paxil",)),
    _m("39786", "venlafaxine", _D.ANTIDEPRESSANT, brands=("Effexor",)),
    _m("734064", "desvenlafaxine", _D.ANTIDEPRESSANT, brands=("Pristiq",)),
    _m("72625", "duloxetine", _D.ANTIDEPRESSANT, brands=("Cymbalta",)),
    _m("42347", "bupropion", _D.ANTIDEPRESSANT, brands=("Wellbutrin", "Zyban")),
    _m("15996", "mirtazapine", _D.ANTIDEPRESSANT, brands=("Remeron",)),
    _m("10737", "trazodone", _D.ANTIDEPRESSANT, brands=("Desyrel",)),
    _m("1455099", "vortioxetine", _D.ANTIDEPRESSANT, brands=("Trintellix",)),
    _m("704", "amitriptyline", _D.ANTIDEPRESSANT, brands=("Elavil",)),
    _m("7531", "nortriptyline", _D.ANTIDEPRESSANT, brands=("Pamelor",)),
    # Antipsychotics.
    _m("51272", "quetiapine", _D.ANTIPSYCHOTIC, brands=("Seroquel",)),
    _m("89013", "aripiprazole", _D.ANTIPSYCHOTIC, brands=("Abilify",)),
    _m("61381", "olanzapine", _D.ANTIPSYCHOTIC, brands=("Zyprexa",)),
    _m("35636", "risperidone", _D.ANTIPSYCHOTIC, brands=("Risperdal",)),
    _m("1040028", "lurasidone", _D.ANTIPSYCHOTIC, brands=("Latuda",)),
    _m("2626", "clozapine", _D.ANTIPSYCHOTIC, brands=("Clozaril",)),
    # Mood stabilisers. RxNav maps divalproex and valproic acid products to "valproate", and
    # lithium carbonate is its own ingredient concept.
    _m("42351", "lithium carbonate", _D.MOOD_STABILISER, brands=("Lithobid",)),
    _m("40254", "valproate", _D.MOOD_STABILISER, brands=("Depakote", "Depakene")),
    _m("2002", "carbamazepine", _D.MOOD_STABILISER, brands=("Tegretol", "Equetro")),
    # Blood pressure medicines.
    _m("29046", "lisinopril", _D.ANTIHYPERTENSIVE, brands=("Zestril", "Prinivil")),
    _m("17767", "amlodipine", _D.ANTIHYPERTENSIVE, brands=("Norvasc",)),
    _m("52175", "losartan", _D.ANTIHYPERTENSIVE, brands=("Cozaar",)),
    _m("6918", "metoprolol", _D.ANTIHYPERTENSIVE, brands=("Lopressor", "Toprol-XL")),
    _m("8787", "propranolol", _D.ANTIHYPERTENSIVE, brands=("Inderal",)),
    _m("2599", "clonidine", _D.ANTIHYPERTENSIVE, brands=("Catapres", "Kapvay")),
    _m("5487", "hydrochlorothiazide", _D.ANTIHYPERTENSIVE, brands=("Microzide",)),
    # Others often on a referral's medication list.
    _m("7243", "naltrexone", _D.OTHER, brands=("Vivitrol", "Revia")),
    _m("6719", "memantine", _D.OTHER, brands=("Namenda",)),
    _m("10582", "levothyroxine", _D.OTHER, brands=("Synthroid", "Levoxyl")),
)

# Other names people type for an ingredient (search and name matching only, never shown).
_ALIASES: dict[str, tuple[str, ...]] = {
    "valproate": ("valproic acid", "divalproex"),
    "lithium carbonate": ("lithium",),
    "methylene blue": ("methylthioninium",),
}


@cache
def _by_rxcui() -> dict[str, Medication]:
    return {medication.rxcui: medication for medication in CATALOGUE}


@cache
def _terms() -> tuple[tuple[str, Medication], ...]:
    """Every searchable (lower-case term, medication) pair: name, brands, aliases."""
    pairs: list[tuple[str, Medication]] = []
    for medication in CATALOGUE:
        terms = (medication.name, *medication.brands, *_ALIASES.get(medication.name, ()))
        pairs += [(term.lower(), medication) for term in terms]
    return tuple(pairs)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def medication_by_rxcui(rxcui: str) -> Medication | None:
    """The catalogue entry for an RxNorm ingredient code, or None (RxNorm; catalogue above)."""
    return _by_rxcui().get(rxcui.strip())


def classes_for(rxcui: str) -> frozenset[DrugClass]:
    """The drug classes of an RxNorm ingredient code; empty when the code is not catalogued
    (DOMAIN.md section 2, interactions)."""
    medication = medication_by_rxcui(rxcui)
    return medication.classes if medication else frozenset()


def medications_named(name: str) -> tuple[Medication, ...]:
    """Catalogue entries a free-text medication name refers to, for entries without a code.

    An exact (case-insensitive) ingredient, brand or alias match wins; otherwise every
    ingredient, brand or alias that appears as a whole word in the text ("sertraline 50 mg",
    "Adderall XR"). A brand that contains two ingredients returns both. Sorted by name."""
    text = _norm(name)
    if not text:
        return ()
    found = {medication for term, medication in _terms() if term == text}
    if not found:
        found = {
            medication
            for term, medication in _terms()
            if re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text)
        }
    return tuple(sorted(found, key=lambda m: m.name))


def medication_search(query: str, *, limit: int = 20) -> list[Medication]:
    """Catalogue search for the medication picker: case-insensitive on ingredient name, brand
    and common alias; entries with a term starting with the query come first, then entries
    with a term merely containing it, each group by name. An empty query returns []."""
    text = _norm(query)
    if not text or limit <= 0:
        return []
    prefix: dict[str, Medication] = {}
    inside: dict[str, Medication] = {}
    for term, medication in _terms():
        if term.startswith(text):
            prefix[medication.rxcui] = medication
        elif text in term:
            inside[medication.rxcui] = medication
    ordered = sorted(prefix.values(), key=lambda m: m.name)
    ordered += sorted(
        (m for rxcui, m in inside.items() if rxcui not in prefix), key=lambda m: m.name
    )
    return ordered[:limit]


__all__ = [
    "CATALOGUE",
    "DRUG_CLASS_LABELS",
    "DrugClass",
    "Medication",
    "classes_for",
    "medication_by_rxcui",
    "medication_search",
    "medications_named",
]
