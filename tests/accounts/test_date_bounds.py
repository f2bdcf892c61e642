"""A clinician's licence and certificate dates are bounded (issue 12): an issue date is not
in the future, an expiry at most one renewal cycle (five years) ahead. Refused with the field
named and nothing saved."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from kapflow.accounts import services
from kapflow.accounts.models import ClinicianLicence, TrainingCertificate

UTC = datetime.UTC
NOW = datetime.datetime(2027, 3, 10, 20, tzinfo=UTC)
TODAY = datetime.date(2027, 3, 10)
DAY = datetime.timedelta(days=1)
EXPIRIES = [
    (datetime.date(1, 1, 1), False),
    (datetime.date(2020, 1, 1), True),  # an expired licence may be recorded; it covers no one
    (TODAY, True),
    (datetime.date(2032, 3, 10), True),
    (datetime.date(2032, 3, 11), False),
    (datetime.date(9999, 12, 31), False),
]


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.mark.parametrize(("value", "ok"), EXPIRIES)
def test_a_licence_expiry_is_bounded(world, value, ok):
    before = ClinicianLicence.objects.count()

    def add():
        return services.licence_add(
            actor=world.therapist2, membership=world.therapist2,
            data={"licence_type": "LPC", "state": "WA", "number": "W-1", "expires_on": value},
        )  # fmt: skip

    if ok:
        assert add().expires_on == value
        return
    with pytest.raises(ValidationError) as exc:
        add()
    assert set(exc.value.message_dict) == {"expires_on"}
    assert ClinicianLicence.objects.count() == before


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [("issued_on", datetime.date(1, 1, 1), False), ("issued_on", TODAY, True),
     ("issued_on", TODAY + DAY, False), ("issued_on", datetime.date(9999, 12, 31), False),
     *[("expires_on", v, ok) for v, ok in EXPIRIES if v >= datetime.date(2020, 1, 1)]],
)  # fmt: skip
def test_a_certificates_dates_are_bounded(world, field, value, ok):
    data = {"name": "KAP certification", "issuer": "A fictional institute",
            "issued_on": datetime.date(2020, 1, 1), field: value}  # fmt: skip

    def add():
        return services.certificate_add(
            actor=world.therapist2, membership=world.therapist2, data=data
        )

    if ok:
        assert getattr(add(), field) == value
        return
    with pytest.raises(ValidationError) as exc:
        add()
    assert set(exc.value.message_dict) == {field}
    assert not TrainingCertificate.objects.exists()
