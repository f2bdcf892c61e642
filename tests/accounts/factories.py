"""Factories for people and organisations. Fictional data only."""

import factory

from kapflow.accounts.models import (
    AuthenticatorDevice,
    ClinicianLicence,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    Partnership,
    User,
)
from kapflow.core import clock

PASSWORD = "correct-horse-battery-staple"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Example Practice {n}")
    slug = factory.Sequence(lambda n: f"example-{n}")
    kind = OrganisationKind.PRACTICE
    state = "OR"


def practice_today():
    """The clinical date now for a factory practice (in Oregon: America/Los_Angeles), the
    date the services stamp (decision 0027). Never the UTC date."""
    return clock.clinical_date(Organisation(state=OrganisationFactory.state))


class PartnerFactory(OrganisationFactory):
    name = factory.Sequence(lambda n: f"Example Medical {n}")
    slug = factory.Sequence(lambda n: f"medical-{n}")
    kind = OrganisationKind.PARTNER


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organisation = factory.SubFactory(OrganisationFactory)
    user = factory.SubFactory(UserFactory)


def member(organisation, *roles, user=None, licences=()) -> Membership:
    """A membership with roles and licences [(type, state)], reloaded with roles prefetched."""
    membership = MembershipFactory(organisation=organisation, **({"user": user} if user else {}))
    for role in roles:
        MembershipRole.objects.create(membership=membership, role=role)
    for licence_type, state in licences:
        ClinicianLicence.objects.create(
            user=membership.user, licence_type=licence_type, state=state, number="X-1"
        )
    return reload_actor(membership)


def reload_actor(membership) -> Membership:
    return (
        Membership.objects.select_related("organisation", "user")
        .prefetch_related("roles")
        .get(pk=membership.pk)
    )


def partnership(practice, partner):
    return Partnership.objects.create(practice=practice, partner=partner)


def totp_device(user) -> AuthenticatorDevice:
    return AuthenticatorDevice.objects.create(user=user, name="test", confirmed=True)
