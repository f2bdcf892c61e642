"""PHI never reaches log output: the scrub filter is the last line of defence."""

import logging

from kapflow.core.logging import REDACTED, PhiScrubFilter


def _record(msg, *args, **extra):
    record = logging.LogRecord("kapflow.test", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_known_phi_keys_in_extra_are_redacted():
    record = _record("client.created", legal_last_name="Example", email="a@b.test", client_id=7)
    PhiScrubFilter().filter(record)
    assert record.legal_last_name == REDACTED and record.email == REDACTED
    assert record.client_id == 7


def test_emails_dates_and_phones_in_messages_are_masked():
    record = _record(
        "lookup %s born %s phone %s", "robin@example.test", "1990-02-03", "(503) 555-0101"
    )
    PhiScrubFilter().filter(record)
    text = record.getMessage()
    assert "robin@example.test" not in text and "1990-02-03" not in text and "555-0101" not in text
    assert text.count(REDACTED) == 3


def test_logger_name_and_ids_survive():
    record = _record("client.viewed id=%s", 42)
    PhiScrubFilter().filter(record)
    assert record.name == "kapflow.test"
    assert record.getMessage() == "client.viewed id=42"


def test_filter_is_installed_on_the_console_handler(settings):
    assert "phi_scrub" in settings.LOGGING["handlers"]["console"]["filters"]
