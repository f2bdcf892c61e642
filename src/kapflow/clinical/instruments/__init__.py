"""The measurement instruments kapflow scores: PHQ-9, GAD-7, PCL-5, C-SSRS screener, CADSS.

Pure Python. Each instrument is one frozen `Instrument` with its items, bands, LOINC codes,
licence note and change rules (DOMAIN.md section 1); `REGISTRY` holds them by code. Services
store `{item_id: int}` answers and the `Score` this package returns; nothing here stores,
renders or reads a clock. Item wording ships only where the licence allows (PHQ-9, GAD-7);
elsewhere `Item.text` is None and forms show `Item.label`.
"""

from kapflow.clinical.instruments.base import (
    AnswerError,
    Band,
    Entry,
    Instrument,
    Item,
    Option,
    SafetyFlag,
    Score,
    change_from_baseline,
    is_remission,
    is_response,
)
from kapflow.clinical.instruments.cadss import CADSS
from kapflow.clinical.instruments.cssrs import CSSRS
from kapflow.clinical.instruments.gad7 import GAD7
from kapflow.clinical.instruments.pcl5 import PCL5, PCL5_MEANINGFUL_CHANGE
from kapflow.clinical.instruments.phq9 import PHQ9

REGISTRY: dict[str, Instrument] = {
    instrument.code: instrument for instrument in (PHQ9, GAD7, PCL5, CSSRS, CADSS)
}


def get(code: str) -> Instrument:
    """The instrument with this code. Raises KeyError for an unknown code."""
    return REGISTRY[code]


__all__ = [
    "CADSS",
    "CSSRS",
    "GAD7",
    "PCL5",
    "PCL5_MEANINGFUL_CHANGE",
    "PHQ9",
    "REGISTRY",
    "AnswerError",
    "Band",
    "Entry",
    "Instrument",
    "Item",
    "Option",
    "SafetyFlag",
    "Score",
    "change_from_baseline",
    "get",
    "is_remission",
    "is_response",
]
