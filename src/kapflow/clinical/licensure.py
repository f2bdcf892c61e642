"""Does a clinician hold a current licence where the client is?

Clinicians may only treat a client located in a state where they hold an active licence (state
licensure law; for prescribers also DEA registration, DOMAIN.md section 4). This module answers
the question; callers decide whether it warns (care-team assignment) or blocks (dosing gate,
`licence.state_mismatch`).
"""

from dataclasses import dataclass
from datetime import date

from kapflow.clinical.geography import US_STATES


@dataclass(frozen=True)
class Licence:
    licence_type: str
    state: str
    number: str
    expires_on: date | None


@dataclass(frozen=True)
class LicenceFinding:
    code: str
    message: str


def current_licence_in_state(licences: list[Licence], *, state: str, today: date) -> Licence | None:
    """The licence that covers `state` on `today`, if any. A licence expiring today still
    covers today; one with no recorded expiry is treated as current."""
    for licence in licences:
        if licence.state == state and (licence.expires_on is None or licence.expires_on >= today):
            return licence
    return None


def licence_findings(licences: list[Licence], *, state: str, today: date) -> list[LicenceFinding]:
    """Every reason a clinician should not treat a client in `state` today, in plain words.

    Empty when a current licence in that state exists.
    """
    if not state:
        return [
            LicenceFinding(
                "licence.client_state_unknown",
                "The client's state is not recorded, so licensure cannot be checked.",
            )
        ]
    state_name = US_STATES.get(state, state)
    if current_licence_in_state(licences, state=state, today=today):
        return []
    in_state = [lic for lic in licences if lic.state == state]
    if in_state:
        return [
            LicenceFinding(
                "licence.expired",
                f"Their licence in {state_name} has expired.",
            )
        ]
    return [
        LicenceFinding(
            "licence.state_mismatch",
            f"They hold no licence in {state_name}, where the client is located.",
        )
    ]
