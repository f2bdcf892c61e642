"""The directory scenarios of ``bench/run.py`` (``--scenarios directory``; decision 0046).

Data set: CLINICIANS published clinicians in PRACTICES practices, each practice at the
centroid of a different US ZIP code (a fixed sample of the `zipcodes` package's standard
codes, so every state is represented), each clinician licensed in their practice's state and
a neighbour's, with modalities, conditions, insurance and prices drawn from a seeded
generator. Loaded with bulk_create; reused when the count matches (``--rebuild`` forces).
A further practice with one clinician is the "small" data set for the flat query count.

Timed (median and p95 over the rounds, as every scenario of run.py):

- ``selector.directory.near``: ``directory.selectors.search`` near ZIP 10001 within 50 miles,
  sorted by distance (the densest part of the sample);
- ``selector.directory.online``: online in CA, filtered to higher-dose KAP;
- ``selector.directory.text``: near 60601 within 100 miles, full text "trauma";
- ``http.directory.near``: GET /find/?mode=near&zip_code=10001&radius=50 (anonymous);
- baseline ``directory.near``: hand-written SQL returning the same page of rows (the box,
  the equirectangular distance, ORDER BY, LIMIT).

Before timing, each selector's statement count on the small data set is compared with the
full one: they must be equal (three statements: the bounded count, the page, the licences).
"""

from __future__ import annotations

import math
import random
import time

from common import capture, count_statements, log  # bench/common.py

CLINICIANS = 50_000
PRACTICES = 500
SEED = 20261207
EMAIL = "bench-dir-{}@kapflow-bench.example"
SLUG = "bench-dir-{}"
MODALITIES = ["higher_dose", "psycholytic", "in_person", "at_home", "group"]
CONDITIONS = ["depression", "ptsd", "anxiety", "ocd", "substance", "pain"]
INSURANCE = ["self_pay", "superbill", "aetna", "bcbs", "cigna", "united", "sliding"]
WORDS = ["trauma", "grief", "depression", "anxiety", "veterans", "couples", "integration"]
NEIGHBOUR = {"NY": "NJ", "NJ": "NY", "CA": "OR", "OR": "WA", "WA": "OR", "IL": "WI"}


def _zip_sample(n: int) -> list[dict]:
    import zipcodes

    rows = [
        z
        for z in zipcodes.list_all()
        if z.get("zip_code_type") == "STANDARD" and z.get("lat") and z.get("state")
    ]
    rows.sort(key=lambda z: z["zip_code"])
    rng = random.Random(SEED)
    picked = rng.sample(rows, n - 3)
    # The places the timed searches start from always have practices around them.
    for code in ("10001", "60601", "90012"):
        picked.append(next(z for z in rows if z["zip_code"] == code))
    return picked


def _codes(rng, pool, k) -> str:
    chosen = sorted(set(rng.sample(pool, k)))
    return "|" + "|".join(chosen) + "|"


def build_directory(rebuild: bool) -> dict:
    """Build (or reuse) the published clinicians; returns the small clinician's profile."""
    from django.db import transaction
    from django.utils import timezone

    from kapflow.accounts.models import (
        ClinicianLicence,
        Membership,
        MembershipRole,
        Organisation,
        OrganisationKind,
        Role,
        User,
    )
    from kapflow.directory.models import ClinicianProfile, PracticeProfile
    from kapflow.directory.selectors import city_key, normalise

    started = time.perf_counter()
    existing = ClinicianProfile.objects.filter(slug__startswith="bench-dir-", visible=True)
    if not rebuild and existing.count() == CLINICIANS + 1:
        small = ClinicianProfile.objects.get(slug=SLUG.format("small"))
        return {"small": small, "reused": True, "build_seconds": 0.0}
    now = timezone.now()
    rng = random.Random(SEED)
    with transaction.atomic():
        ClinicianProfile.objects.filter(slug__startswith="bench-dir-").delete()
        PracticeProfile.objects.filter(slug__startswith="bench-dir-").delete()
        users = User.objects.filter(email__startswith="bench-dir-")
        ClinicianLicence.objects.filter(user__in=users).delete()
        MembershipRole.objects.filter(membership__user__in=users).delete()
        Membership.objects.filter(user__in=users).delete()
        users.delete()
        Organisation.objects.filter(slug__startswith="bench-dir-").delete()

        places = [
            *_zip_sample(PRACTICES),
            {
                "zip_code": "59001",
                "city": "Absarokee",
                "state": "MT",
                "lat": "45.5",
                "long": "-109.4",
            },
        ]
        orgs = Organisation.objects.bulk_create(
            [
                Organisation(
                    name=f"Bench KAP {i}",
                    slug=SLUG.format(f"org-{i}"),
                    kind=OrganisationKind.PRACTICE,
                    state=p["state"][:2],
                )
                for i, p in enumerate(places)
            ]
        )
        practices = PracticeProfile.objects.bulk_create(
            [
                PracticeProfile(
                    organisation=org,
                    slug=SLUG.format(f"practice-{i}"),
                    display_name=org.name,
                    city=p["city"].title(),
                    state=p["state"][:2],
                    zip_code=p["zip_code"],
                    latitude=float(p["lat"]),
                    longitude=float(p["long"]),
                    published=True,
                    published_at=now,
                    updated_at=now,
                )
                for i, (org, p) in enumerate(zip(orgs, places, strict=True))
            ]
        )
        per = math.ceil(CLINICIANS / PRACTICES)
        plan = [(i, practices[min(i // per, PRACTICES - 1)]) for i in range(CLINICIANS)]
        plan.append(("small", practices[-1]))
        users = User.objects.bulk_create(
            [
                User(email=EMAIL.format(i), full_name=f"Bench Clinician {i}", password="!")
                for i, _ in plan
            ],
            batch_size=2000,
        )
        memberships = Membership.objects.bulk_create(
            [
                Membership(organisation_id=practice.organisation_id, user=user)
                for (_, practice), user in zip(plan, users, strict=True)
            ],
            batch_size=2000,
        )
        MembershipRole.objects.bulk_create(
            [MembershipRole(membership=m, role=Role.THERAPIST) for m in memberships],
            batch_size=5000,
        )
        licences = []
        for (_, practice), user in zip(plan, users, strict=True):
            licences.append(
                ClinicianLicence(user=user, licence_type="LPC", state=practice.state, number="B")
            )
            if practice.state in NEIGHBOUR:
                licences.append(
                    ClinicianLicence(
                        user=user, licence_type="LPC", state=NEIGHBOUR[practice.state], number="B"
                    )
                )
        ClinicianLicence.objects.bulk_create(licences, batch_size=5000)
        profiles = []
        for (i, practice), m in zip(plan, memberships, strict=True):
            name = f"Bench Clinician {i}"
            # Every third bio speaks of trauma (what the text scenario looks for); the small
            # clinician's every word, so its searches return a row as the full ones do.
            words = WORDS if i == "small" else rng.sample(WORDS, 3)
            if i != "small" and i % 3 == 0 and "trauma" not in words:
                words = [*words, "trauma"]
            bio = " ".join(words)
            low = rng.choice([100, 150, 200, 250])
            profiles.append(
                ClinicianProfile(
                    organisation_id=practice.organisation_id,
                    practice=practice,
                    membership=m,
                    slug=SLUG.format(i),
                    display_name=name,
                    bio=bio,
                    modalities=_codes(rng, MODALITIES, 2),
                    conditions=_codes(rng, CONDITIONS, 2),
                    insurance=_codes(rng, INSURANCE, 2),
                    price_min=low,
                    price_max=low + 100,
                    accepting_new=rng.random() < 0.8,
                    state=practice.state,
                    city_key=city_key(practice.city, practice.state),
                    latitude=practice.latitude,
                    longitude=practice.longitude,
                    search_name=normalise(f"{name} {practice.display_name}"),
                    search_text=normalise(f"{name} {bio} {practice.display_name} {practice.city}"),
                    published=True,
                    visible=True,
                    updated_at=now,
                )
            )
        ClinicianProfile.objects.bulk_create(profiles, batch_size=2000)
    seconds = time.perf_counter() - started
    log(f"directory: {CLINICIANS:,} clinicians in {PRACTICES} practices built in {seconds:.1f} s")
    small = ClinicianProfile.objects.get(slug=SLUG.format("small"))
    return {"small": small, "reused": False, "build_seconds": seconds}


def raw_near(lat: float, lon: float, miles: float) -> int:
    """The same page as the near search, in hand-written SQL."""
    from django.db import connection

    from kapflow.clinical.directory import MILES_PER_DEGREE_LATITUDE, bounding_box

    box = bounding_box(lat, lon, miles)
    c2 = math.cos(math.radians(lat)) ** 2
    limit = (miles / MILES_PER_DEGREE_LATITUDE) ** 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id, p.display_name, pr.display_name FROM directory_clinicianprofile p "
            "JOIN directory_practiceprofile pr ON pr.id = p.practice_id "
            "WHERE p.visible AND p.in_person AND NOT pr.online_only "
            "AND p.latitude BETWEEN %s AND %s AND p.longitude BETWEEN %s AND %s "
            "AND (p.latitude - %s) * (p.latitude - %s) "
            "+ (p.longitude - %s) * (p.longitude - %s) * %s <= %s "
            "ORDER BY (p.latitude - %s) * (p.latitude - %s) "
            "+ (p.longitude - %s) * (p.longitude - %s) * %s, p.display_name, p.id LIMIT 11",
            [box.min_lat, box.max_lat, box.min_lon, box.max_lon, lat, lat, lon, lon, c2, limit,
             lat, lat, lon, lon, c2],
        )  # fmt: skip
        return len(cursor.fetchall())


def directory_scenarios(data: dict, repeat: int):
    """(plan, raw baselines, facts) for bench/run.py."""
    from django.test import Client as HttpClient

    from kapflow.directory import selectors
    from kapflow.directory.selectors import SearchParams

    built = build_directory(data.get("rebuild", False))
    near = SearchParams(mode="near", zip_code="10001", radius=50, sort="distance")
    online = SearchParams(mode="online", state="CA", modality="higher_dose")
    text = SearchParams(mode="near", zip_code="60601", radius=100, q="trauma")
    small_near = SearchParams(mode="near", zip_code="59001", radius=50)
    small_online = SearchParams(mode="online", state="MT")
    small_text = SearchParams(mode="near", zip_code="59001", radius=50, q="trauma")

    def sel(params):
        def run(_i):
            result = selectors.search(params)
            return len(result.rows)

        return run

    anonymous = HttpClient()

    def http_near(_i):
        response = anonymous.get("/find/", {"mode": "near", "zip_code": "10001", "radius": 50})
        if response.status_code != 200:
            raise SystemExit(f"GET /find/ answered {response.status_code}")
        return len(response.content)

    flat = {}
    for name, at_small, at_full in (
        ("near", sel(small_near), sel(near)),
        ("online", sel(small_online), sel(online)),
        ("text", sel(small_text), sel(text)),
    ):
        at_small(0), at_full(0)
        small_n, _ = count_statements(capture(at_small, 0))
        full_n, _ = count_statements(capture(at_full, 0))
        flat[name] = {"small": small_n, "full": full_n}
        if small_n != full_n:
            log(f"QUERY COUNT GROWS: directory {name} {small_n} small, {full_n} full")

    place = selectors.zip_place("10001")
    raw = {"directory.near": lambda _i: raw_near(place.latitude, place.longitude, 50)}
    plan = [
        ("selector.directory.near", "search near 10001, 50 miles, by distance", sel(near),
         "directory.near"),
        ("selector.directory.online", "search online in CA, higher-dose", sel(online),
         "directory.near"),
        ("selector.directory.text", "search near 60601, 100 miles, 'trauma'", sel(text),
         "directory.near"),
        ("http.directory.near", "GET /find/ near 10001 (anonymous)", http_near,
         "directory.near"),
    ]  # fmt: skip

    def facts() -> dict:
        found = selectors.search(near).page.paginator.count
        log(f"directory: {CLINICIANS:,} clinicians; near 10001: {found}; query counts {flat}")
        return {
            "directory_clinicians": CLINICIANS,
            "directory_near_count": found,
            "directory_query_counts": flat,
            "directory_queries_flat": all(v["small"] == v["full"] for v in flat.values()),
            "directory_built": {
                "reused": built["reused"],
                "seconds": round(built["build_seconds"], 1),
            },
        }

    return plan, raw, facts
