"""A failing rule, as every gate in kapflow reports it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """One failing rule: a stable machine `code`, the plain words a person reads, and whether
    a licensed clinician may override it with a written reason (soft) or never (hard)."""

    code: str
    message: str
    overridable: bool = False
