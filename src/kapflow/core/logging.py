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


class RequestContextFilter(logging.Filter):
    """Adds the current request's id (kapflow.core.context) to every record, so each log
    line can be tied to the audit rows of the same request. Outside a request it is empty."""

    def filter(self, record: logging.LogRecord) -> bool:
        from kapflow.core.context import current_request_meta

        if not getattr(record, "request_id", ""):
            record.request_id = current_request_meta().request_id
        return True


# LogRecord attributes that are not `extra=` fields.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class PlainFormatter(logging.Formatter):
    """The plain text format, with tracebacks scrubbed like messages: an exception's text
    (a database error's DETAIL line, a library's message) may quote a value."""

    def formatException(self, ei) -> str:
        return scrub_text(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (KAPFLOW_LOG_FORMAT=json): time, level, logger, event (the
    message), request_id, then the `extra=` fields. Runs after PhiScrubFilter, so PHI keys are
    already redacted; tracebacks are scrubbed like messages."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": scrub_text(record.getMessage()),
            "request_id": getattr(record, "request_id", "") or None,
        }
        for key, value in record.__dict__.items():
            if key in _RECORD_FIELDS or key in entry or key.startswith("_"):
                continue
            entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)
