"""Amendment requests made through the services, and the records they point at. Fictional
text only."""

from kapflow.amendments import services
from kapflow.assessments import services as assessment_services

WRONG = "The note says I stopped sertraline in March."
SHOULD = "I stopped sertraline in May."
WHY = "I have the pharmacy record of my last refill."


def gad7(world, client=None):
    """A submitted GAD-7 entered by the therapist for the world's client."""
    return assessment_services.response_enter(
        actor=world.therapist, client_id=(client or world.client).pk, instrument="gad7",
        answers={f"gad7_{n}": 1 for n in range(1, 8)},
    )  # fmt: skip


def ask(world, **fields):
    """The world's client asks; by default about a session note."""
    values = {
        "part": "note",
        "part_description": "The dosing session in March",
        "what_is_wrong": WRONG,
        "should_say": SHOULD,
        "why": WHY,
    } | fields
    return services.amendment_request(actor=world.client_member, **values)


def deny(world, row, **fields):
    values = {
        "decision": "deny",
        "denial_basis": "accurate_and_complete",
        "explanation": "The prescription record shows the last refill in March.",
    } | fields
    return services.amendment_decide(actor=world.therapist, amendment_id=row.pk, **values)


def accept(world, row, **fields):
    values = {"decision": "accept", "amendment_text": SHOULD} | fields
    return services.amendment_decide(actor=world.therapist, amendment_id=row.pk, **values)
