"""A published directory over the shared `world`: practice A in Portland (97214) with its
therapist (licensed in OR) and the partner's prescriber as partner prescriber, both working
Monday to Friday 09:00-17:00 Pacific."""

from datetime import time

from kapflow.directory import services
from kapflow.scheduling.models import AvailabilityRule


def hours(membership, zone_name="America/Los_Angeles"):
    for day in range(5):
        AvailabilityRule.objects.create(
            organisation_id=membership.organisation_id, membership=membership, weekday=day,
            start_time=time(9), end_time=time(17), time_zone=zone_name,
        )  # fmt: skip


def publish(world, *, zip_code="97214", online_only=False, bio="Portland KAP practice."):
    practice = services.practice_profile_save(
        actor=world.admin,
        data={"display_name": "Practice A", "state": "OR", "zip_code": zip_code,
              "online_only": online_only, "bio": bio, "partner_id": world.partner.pk,
              "published": True},
    )  # fmt: skip
    card = services.clinician_profile_save(
        actor=world.admin,
        membership_id=world.therapist.pk,
        data={"display_name": "Avery Example", "bio": "Depression and trauma, higher-dose KAP.",
              "modalities": ["higher_dose", "in_person"], "conditions": ["depression", "ptsd"],
              "insurance": ["self_pay"], "price_min": 150, "price_max": 250,
              "partner_prescriber_id": world.prescriber.pk, "published": True,
              "accepting_new": True, "in_person": True, "telehealth": True},
    )  # fmt: skip
    return practice, card
