"""The one check for people's names: no invisible or direction-changing characters.

A zero-width space makes two names look the same and compare different; a right-to-left
override makes "Ann" display as something else in every list, PDF and e-mail. Both are
refused wherever a person's name is stored (issue 13, decision 0034). Letters of any
script, accents, spaces, hyphens and apostrophes are untouched.
"""

from django.core.exceptions import ValidationError

# Zero-width space, non-joiner and joiner; word joiner; byte-order mark (zero-width
# no-break space); the bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO), isolates
# (LRI, RLI, FSI, PDI) and marks (LRM, RLM, ALM).
INVISIBLE_CHARACTERS = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff"
    "\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069"
    "\u200e\u200f\u061c"
)


def invisible_characters(value: str) -> list[str]:
    """The code points (as U+XXXX) of the refused characters in `value`, in order, once."""
    found: list[str] = []
    for char in value or "":
        if char in INVISIBLE_CHARACTERS:
            label = f"U+{ord(char):04X}"
            if label not in found:
                found.append(label)
    return found


def check_names(values: dict[str, str], labels: dict[str, str] | None = None) -> None:
    """Raise one ValidationError keyed by every field whose value holds a refused character;
    the message names the field (its label) and the characters, never the value."""
    errors = {}
    for field, value in values.items():
        found = invisible_characters(value)
        if found:
            label = (labels or {}).get(field, field.replace("_", " ").capitalize())
            errors[field] = (
                f"{label} contains an invisible or text-direction character "
                f"({', '.join(found)}); remove it and type the name again."
            )
    if errors:
        raise ValidationError(errors)
