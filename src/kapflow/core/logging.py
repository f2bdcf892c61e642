"""A last line of defence against PHI in logs.

kapflow logs event names and ids only. This filter drops the values of known PHI keys passed
through `extra=` and masks e-mail addresses and dates of birth that slip into a message.
It is a backstop, not a licence to log personal data.
"""

import logging
import re

PHI_KEYS = frozenset(
    {
        "full_name",
        "legal_first_name",
        "legal_last_name",
        "preferred_name",
        "first_name",
        "last_name",
        "date_of_birth",
        "dob",
        "email",
        "phone",
        "address",
        "address_line1",
        "address_line2",
        "postal_code",
        "emergency_contact_name",
        "emergency_contact_phone",
        "note",
        "notes",
        "answers",
        "password",
        "token",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DATE = re.compile(r"\b(19|20)\d{2}-\d{2}-\d{2}\b")
_PHONE = re.compile(r"\+?\d[\d\s().-]{8,}\d")
REDACTED = "[redacted]"


def scrub_text(text: str) -> str:
    text = _EMAIL.sub(REDACTED, text)
    text = _DATE.sub(REDACTED, text)
    return _PHONE.sub(REDACTED, text)


class PhiScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key in PHI_KEYS:
            if key in record.__dict__:
                record.__dict__[key] = REDACTED
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = scrub_text(record.msg)
        return True
