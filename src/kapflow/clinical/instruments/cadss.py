"""CADSS: Clinician-Administered Dissociative States Scale, rated in session.

Source: Bremner JD, Krystal JH, Putnam FW, et al. Measurement of dissociative states with the
Clinician-Administered Dissociative States Scale (CADSS). J Trauma Stress 1998;11(1):125-36
(23 items rated 0-4, total 0-92; verify). Used to track dissociation in the esketamine trials
(Spravato PI 5.2).

The bands (0 none, 1-19 mild, 20-39 moderate, 40-92 marked) are a practice convention, not
published cut-offs (verify with the clinical lead). No LOINC code found.

Licence: use needs the authors' permission (verify). We ship no items; the clinician rates
from their licensed copy and enters only the total.
"""

from kapflow.clinical.instruments.base import Band, Entry, Instrument

CADSS = Instrument(
    code="cadss",
    name="Clinician-Administered Dissociative States Scale",
    short_name="CADSS",
    respondent="clinician",
    entry=Entry.TOTAL,
    items=(),
    min_total=0,
    max_total=92,
    bands=(
        Band(0, 0, "none", 0),
        Band(1, 19, "mild", 1),
        Band(20, 39, "moderate", 2),
        Band(40, 92, "marked", 3),
    ),
    loinc_panel=None,
    loinc_total=None,
    licence=(
        "Author permission needed (verify). No items are shipped; only the clinician's total "
        "is entered."
    ),
    response_drop=None,
    remission_max=None,
)
