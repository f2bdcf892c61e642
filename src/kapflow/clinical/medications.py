"""A curated, RxNorm-coded medication catalogue for the medication picker and the interaction
screen. Pure Python.

Owns the list of ingredients that matter when a prescriber evaluates a client for
ketamine-assisted psychotherapy, the drug classes the eligibility screen reacts to
(DOMAIN.md section 2, "Interactions"), approximate diazepam equivalents for benzodiazepines,
and lookup and search over all of it. It decides nothing: `kapflow.clinical.eligibility` turns
classes into findings (each with its source), and turns a medicine this catalogue does not
recognise into a finding the prescriber must review by hand (decision 0028).

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
    NMDA_ANTAGONIST = "nmda_antagonist"  # acts where ketamine acts (memantine, dextromethorphan)
    OPIOID_ANTAGONIST = "opioid_antagonist"  # naltrexone
    ADDICTION_TREATMENT = "addiction_treatment"  # often prescribed for a substance use disorder
    CYP_INDUCER = "cyp_inducer"  # speeds up ketamine's breakdown (CYP3A4)
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
    DrugClass.NMDA_ANTAGONIST: "NMDA receptor antagonist",
    DrugClass.OPIOID_ANTAGONIST: "Opioid antagonist",
    DrugClass.ADDICTION_TREATMENT: "Medicine often used for a substance use disorder",
    DrugClass.CYP_INDUCER: "Enzyme inducer (lowers ketamine levels)",
    DrugClass.OTHER: "Other",
}


@dataclass(frozen=True)
class Medication:
    """One ingredient. `brands` are common US brand names and `aliases` other names people
    type; both are used for search and name matching only (they are not coded).
    `diazepam_mg_equivalent` is set for benzodiazepines only: the mg of diazepam taken as equal
    to 1 mg of this drug."""

    rxcui: str  # RxNorm ingredient (TTY=IN) concept id, as a string
    name: str  # lower-case ingredient name, e.g. "phenelzine"
    classes: frozenset[DrugClass]
    brands: tuple[str, ...] = ()
    diazepam_mg_equivalent: float | None = None
    aliases: tuple[str, ...] = ()


def _m(
    rxcui: str,
    name: str,
    *classes: DrugClass,
    brands: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    diazepam: float | None = None,
) -> Medication:
    return Medication(
        rxcui=rxcui, name=name, classes=frozenset(classes), brands=brands,
        diazepam_mg_equivalent=diazepam, aliases=aliases,
    )  # fmt: skip


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
# Left out because no source confirmed a code: safinamide, triazolam, tapentadol, cariprazine,
# ziprasidone, lumateperone, paliperidone. Typed on an evaluation, they are "not in the
# catalogue" and the prescriber reviews them by hand (decision 0028).
# St John's wort (258326, "St. John's wort extract") was matched in two public RxNorm-derived
# tables (an NDF-RT interaction analysis joined to RXNCONSO, and a supplement RxCUI map);
# dextromethorphan, brexpiprazole and haloperidol in the CPIC drug table. (verify)
# Re-check every code against RxNav (https://rxnav.nlm.nih.gov) before production use.
#
# Each class's caution with ketamine, and its source, is in kapflow.clinical.eligibility
# (`_medication_findings`); the comments above each group below say why a medicine is there.
#
# Benzodiazepine equivalents are approximate conversion factors after the Ashton manual
# (H. Ashton, "Benzodiazepines: how they work and how to withdraw", table of doses roughly
# equal to diazepam 10 mg). They estimate total sedative load; they are not a dosing guide.
# One row per ingredient; a long row continues on the next line.
# fmt: off
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
    _m("6878", "methylene blue", _D.MAOI, brands=("ProvayBlue",), aliases=("methylthioninium",)),
    # Psychostimulants and wake-promoting agents.
    _m("725", "amphetamine", _D.STIMULANT, brands=("Adderall", "Evekeo", "Mydayis", "Adzenys")),
    _m("3288", "dextroamphetamine", _D.STIMULANT, brands=("Adderall", "Dexedrine", "Zenzedi")),
    _m("700810", "lisdexamfetamine", _D.STIMULANT, brands=("Vyvanse",)),
    _m("6901", "methylphenidate", _D.STIMULANT, brands=("Ritalin", "Concerta", "Methylin")),
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
    # Opioids: sedation and slowed breathing with ketamine (Spravato PI 5.1, 7). Methadone and
    # buprenorphine are also the usual treatments of opioid use disorder.
    _m("7804", "oxycodone", _D.OPIOID,
       brands=("OxyContin", "Roxicodone", "Percocet", "Endocet", "Xtampza")),
    _m("5489", "hydrocodone", _D.OPIOID,
       brands=("Norco", "Vicodin", "Hysingla", "Lortab", "Zohydro")),
    _m("7052", "morphine", _D.OPIOID, brands=("MS Contin", "Kadian")),
    _m("10689", "tramadol", _D.OPIOID, brands=("Ultram", "Ultracet", "ConZip")),
    _m("2670", "codeine", _D.OPIOID),
    _m("4337", "fentanyl", _D.OPIOID, brands=("Duragesic", "Actiq", "Fentora")),
    _m("6813", "methadone", _D.OPIOID, _D.ADDICTION_TREATMENT, brands=("Dolophine", "Methadose")),
    _m("1819", "buprenorphine", _D.OPIOID, _D.ADDICTION_TREATMENT,
       brands=("Suboxone", "Subutex", "Sublocade", "Zubsolv", "Brixadi", "Butrans", "Belbuca")),
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
    _m("4493", "fluoxetine", _D.ANTIDEPRESSANT, brands=("Prozac", "Symbyax")),
    _m("321988", "escitalopram", _D.ANTIDEPRESSANT, brands=("Lexapro",)),
    _m("2556", "citalopram", _D.ANTIDEPRESSANT, brands=("Celexa",)),
    _m("32937", "paroxetine", _D.ANTIDEPRESSANT, brands=("Paxil",)),
    _m("39786", "venlafaxine", _D.ANTIDEPRESSANT, brands=("Effexor",)),
    _m("734064", "desvenlafaxine", _D.ANTIDEPRESSANT, brands=("Pristiq",)),
    _m("72625", "duloxetine", _D.ANTIDEPRESSANT, brands=("Cymbalta",)),
    _m("42347", "bupropion", _D.ANTIDEPRESSANT,
       brands=("Wellbutrin", "Zyban", "Auvelity", "Contrave")),
    _m("15996", "mirtazapine", _D.ANTIDEPRESSANT, brands=("Remeron",)),
    _m("10737", "trazodone", _D.ANTIDEPRESSANT, brands=("Desyrel",)),
    _m("1455099", "vortioxetine", _D.ANTIDEPRESSANT, brands=("Trintellix",)),
    _m("704", "amitriptyline", _D.ANTIDEPRESSANT, brands=("Elavil",)),
    _m("7531", "nortriptyline", _D.ANTIDEPRESSANT, brands=("Pamelor",)),
    # Antipsychotics: added sedation, and the reason they are taken may be a psychotic or
    # bipolar disorder (Spravato PI 5.1, 5.2, 7; Sanacora 2017). Brexpiprazole and
    # aripiprazole are also add-on treatments for depression.
    _m("51272", "quetiapine", _D.ANTIPSYCHOTIC, brands=("Seroquel",)),
    _m("89013", "aripiprazole", _D.ANTIPSYCHOTIC, brands=("Abilify",)),
    _m("1658314", "brexpiprazole", _D.ANTIPSYCHOTIC, brands=("Rexulti",)),
    _m("61381", "olanzapine", _D.ANTIPSYCHOTIC, brands=("Zyprexa", "Symbyax", "Lybalvi")),
    _m("35636", "risperidone", _D.ANTIPSYCHOTIC, brands=("Risperdal", "Perseris", "Uzedy")),
    _m("1040028", "lurasidone", _D.ANTIPSYCHOTIC, brands=("Latuda",)),
    _m("2626", "clozapine", _D.ANTIPSYCHOTIC, brands=("Clozaril", "Versacloz", "FazaClo")),
    _m("5093", "haloperidol", _D.ANTIPSYCHOTIC, brands=("Haldol",)),
    # Mood stabilisers: usually a sign of bipolar disorder; check for a current manic episode
    # (Sanacora 2017). RxNav maps divalproex and valproic acid products to "valproate", and
    # lithium carbonate is its own ingredient concept. Carbamazepine is also a strong CYP3A
    # inducer (FDA table of clinical index inducers), like St John's wort below.
    _m("42351", "lithium carbonate", _D.MOOD_STABILISER,
       brands=("Lithobid", "Eskalith"), aliases=("lithium",)),
    _m("40254", "valproate", _D.MOOD_STABILISER,
       brands=("Depakote", "Depakene"), aliases=("valproic acid", "divalproex")),
    _m("2002", "carbamazepine", _D.MOOD_STABILISER, _D.CYP_INDUCER,
       brands=("Tegretol", "Equetro", "Carbatrol")),
    # Blood pressure medicines.
    _m("29046", "lisinopril", _D.ANTIHYPERTENSIVE, brands=("Zestril", "Prinivil")),
    _m("17767", "amlodipine", _D.ANTIHYPERTENSIVE, brands=("Norvasc",)),
    _m("52175", "losartan", _D.ANTIHYPERTENSIVE, brands=("Cozaar",)),
    _m("6918", "metoprolol", _D.ANTIHYPERTENSIVE, brands=("Lopressor", "Toprol-XL")),
    _m("8787", "propranolol", _D.ANTIHYPERTENSIVE, brands=("Inderal",)),
    _m("2599", "clonidine", _D.ANTIHYPERTENSIVE, brands=("Catapres", "Kapvay")),
    _m("5487", "hydrochlorothiazide", _D.ANTIHYPERTENSIVE, brands=("Microzide",)),
    # NMDA receptor antagonists: act where ketamine acts; the memantine label asks for caution
    # when it is combined with ketamine or dextromethorphan (Namenda PI 7.1, DailyMed,
    # https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=namenda). Auvelity is
    # dextromethorphan with bupropion, Nuedexta dextromethorphan with quinidine.
    _m("6719", "memantine", _D.NMDA_ANTAGONIST, brands=("Namenda", "Namzaric")),
    _m("3289", "dextromethorphan", _D.NMDA_ANTAGONIST,
       brands=("Auvelity", "Nuedexta", "Delsym"), aliases=("dxm",)),
    # Naltrexone: blocked the antidepressant effect of IV ketamine in a small trial (Williams
    # et al., Am J Psychiatry 2018;175:1205-1215) and blocks opioid pain relief (naltrexone
    # label, DailyMed, https://dailymed.nlm.nih.gov/dailymed/search.cfm?query=naltrexone).
    # Contrave is naltrexone with bupropion.
    _m("7243", "naltrexone", _D.OPIOID_ANTAGONIST, _D.ADDICTION_TREATMENT,
       brands=("Vivitrol", "Revia", "Contrave")),
    # St John's wort: a CYP3A4 inducer; it cut oral S-ketamine exposure by 58% (Peltoniemi et
    # al., Fundam Clin Pharmacol 2012;26:743-750, doi:10.1111/j.1472-8206.2011.00954.x), and
    # it interacts with many antidepressants (NCCIH,
    # https://www.nccih.nih.gov/health/st-johns-wort).
    _m("258326", "st john's wort", _D.CYP_INDUCER, _D.ANTIDEPRESSANT,
       aliases=("st johns wort", "saint john's wort", "st john wort", "hypericum", "sjw")),
    # Others often on a referral's medication list.
    _m("10582", "levothyroxine", _D.OTHER, brands=("Synthroid", "Levoxyl")),
)
# fmt: on


@cache
def _by_rxcui() -> dict[str, Medication]:
    return {medication.rxcui: medication for medication in CATALOGUE}


@cache
def _terms() -> tuple[tuple[str, Medication], ...]:
    """Every searchable (normalised term, medication) pair: name, brands, aliases."""
    pairs: list[tuple[str, Medication]] = []
    for medication in CATALOGUE:
        terms = (medication.name, *medication.brands, *medication.aliases)
        pairs += [(_norm(term), medication) for term in terms]
    return tuple(pairs)


_PUNCTUATION = str.maketrans({"'": None, "\u2019": None, "\u2018": None, ".": " "})


def _norm(text: str) -> str:
    """Lower case, apostrophes dropped, full stops as spaces, whitespace collapsed: "St. John’s
    Wort" and "st johns  wort" compare equal."""
    return " ".join(text.lower().translate(_PUNCTUATION).split())


def medication_key(name: str) -> str:
    """The form two typed names share when they name the same thing ("Kratom " and "kratom"):
    used to match a prescriber's acknowledgement to the medicine it reviews."""
    return _norm(name)


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


def medication_exact(name: str) -> Medication | None:
    """The one catalogue entry whose name, brand or alias is exactly `name` (ignoring case,
    apostrophes, full stops and spacing), or None when none is, or when the term names more
    than one ingredient (a combination brand such as Adderall)."""
    text = _norm(name)
    found = {medication for term, medication in _terms() if term == text}
    return found.pop() if len(found) == 1 else None


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
    "medication_exact",
    "medication_key",
    "medication_search",
    "medications_named",
]
