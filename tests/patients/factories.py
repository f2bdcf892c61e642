"""Factories for clients and care teams. Fictional data only."""

import datetime

import factory

from kapflow.patients.models import CareTeamMember, Client
from tests.accounts.factories import OrganisationFactory


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    organisation = factory.SubFactory(OrganisationFactory)
    legal_first_name = factory.Sequence(lambda n: f"Firstname{n}")
    legal_last_name = factory.Sequence(lambda n: f"Lastname{n:05d}")
    date_of_birth = datetime.date(1985, 6, 1)
    state = "OR"
    email = factory.Sequence(lambda n: f"client{n}@example.test")


def on_team(client, membership, role="therapist", added_by=None) -> CareTeamMember:
    return CareTeamMember.objects.create(
        organisation=client.organisation,
        client=client,
        membership=membership,
        role=role,
        added_by=added_by or membership.user,
    )
