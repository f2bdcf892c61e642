"""The emergency notice and the crisis words that make it prominent.

Secure messages are read during business hours, so nothing here promises a reply time: the
notice points to emergency services instead (911; the 988 Suicide & Crisis Lifeline, call or
text). Pure Python: no Django, no database.
"""

import re
import unicodedata

NOTICE = (
    "Messages are not for emergencies. They are read during business hours, not around the "
    "clock. If you are in danger, call 911. In a mental-health crisis, call or text 988 "
    "(Suicide & Crisis Lifeline)."
)

# Phrases a client may use when they need help now. Deliberately short and literal: a match
# only makes the notice prominent; it does not diagnose or triage anything.
CRISIS_PHRASES = (
    "suicide",
    "suicidal",
    "kill myself",
    "killing myself",
    "end my life",
    "ending my life",
    "end it all",
    "want to die",
    "hurt myself",
    "harm myself",
    "self harm",
    "self-harm",
    "overdose",
    "overdosed",
    "overdosing",
    "took too much",
    "can't breathe",
    "cant breathe",
    "cannot breathe",
    "chest pain",
)

_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in CRISIS_PHRASES) + r")\b"
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    # Curly apostrophes ("can’t") and the like read as the plain one.
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")


def mentions_crisis(text: str) -> bool:
    """True when the text contains one of CRISIS_PHRASES as whole words."""
    return bool(text) and _PATTERN.search(_normalise(text)) is not None
