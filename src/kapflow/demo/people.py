"""The demo practice's people: Harbor Light Therapy, its partner Northstar Medical Group, the
seven fixed sign-ins, and the names and places the generated clients are drawn from.

Every person here is fictional. The sign-ins are a contract other work relies on (README):
keep them.
"""

DEMO_PASSWORD = "kapflow-demo"

PRACTICE = {
    "name": "Harbor Light Therapy",
    "slug": "harbor-light",
    "state": "OR",
    "phone": "(503) 555-0140",
    "address": "100 Example Quay, Portland, OR 97201",
}
PARTNER = {
    "name": "Northstar Medical Group",
    "slug": "northstar",
    "state": "OR",
    "phone": "(503) 555-0190",
    "address": "200 Sample Avenue, Portland, OR 97205",
}

# email, full name, organisation slug, roles, title, licences [(type, state, number)], npi
SIGN_INS = [
    ("admin@harborlight.example", "Morgan Ashby", "harbor-light", ["practice_admin"],
     "Practice manager", [], ""),
    ("therapist@harborlight.example", "Avery Lindqvist", "harbor-light", ["therapist"],
     "LMFT", [("LMFT", "OR", "T-10041"), ("LMFT", "WA", "LF-60022")], "1000000004"),
    ("therapist2@harborlight.example", "Rowan Okafor", "harbor-light", ["therapist"],
     "LPC", [("LPC", "OR", "C-20077")], "1000000012"),
    ("billing@harborlight.example", "Casey Brennan", "harbor-light", ["biller"],
     "Billing", [], ""),
    ("prescriber@northstar.example", "Dr. Sam Whitfield", "northstar", ["prescriber"],
     "PMHNP", [("NP", "OR", "NP-5531"), ("NP", "WA", "ARNP-8812"), ("NP", "CA", "NP-77120")],
     "1000000020"),
    ("client@harborlight.example", "Jordan Vale", "harbor-light", ["client"], "", [], ""),
    ("companion@harborlight.example", "Riley Vale", "harbor-light", ["companion"], "", [], ""),
]  # fmt: skip

FIRST = [
    "Alex",
    "Blair",
    "Cameron",
    "Dana",
    "Emerson",
    "Finley",
    "Gray",
    "Harper",
    "Indigo",
    "Jules",
    "Kai",
    "Logan",
    "Marlow",
    "Noel",
    "Oakley",
    "Parker",
    "Quinn",
    "Reese",
    "Sage",
    "Tatum",
]
LAST = [
    "Ambrose",
    "Birchwood",
    "Calloway",
    "Delacroix",
    "Eastwick",
    "Fairbanks",
    "Greenleaf",
    "Holloway",
    "Ivers",
    "Juniper",
    "Kettering",
    "Larkspur",
    "Merriweather",
    "Northcott",
    "Oakhurst",
    "Pemberton",
    "Quillon",
    "Redfern",
    "Silverton",
    "Thornbury",
]
PRONOUNS = ["she/her", "he/him", "they/them", ""]
CITIES = {"OR": [("Portland", "972"), ("Eugene", "974"), ("Salem", "973")],
          "WA": [("Vancouver", "986"), ("Seattle", "981")],
          "CA": [("Sacramento", "958")]}  # fmt: skip
