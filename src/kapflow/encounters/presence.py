"""Who was present at a session, as told by the apps built on top of encounters.

The session room (kapflow.telehealth) records when each clinician joined and left; the
discharge bills the therapist's time in the room rather than the clock from start to
discharge (decision 0049). encounters must not import the room, which imports encounters, so
the room registers a source here when its app is ready, and the discharge asks.

A source takes (session, until) and returns the therapist's (joined, left) intervals, an open
connection ending at `until`, or None when it knows nothing of this session (no room, or nobody
joined it: the practice used its own video link or met in person).
"""

from collections.abc import Callable
from datetime import datetime

Source = Callable[[object, datetime], list[tuple[datetime, datetime]] | None]

_sources: list[Source] = []


def register(source: Source) -> None:
    if source not in _sources:
        _sources.append(source)


def therapist_intervals(session, *, until: datetime) -> list[tuple[datetime, datetime]] | None:
    for source in _sources:
        found = source(session, until)
        if found is not None:
            return found
    return None
