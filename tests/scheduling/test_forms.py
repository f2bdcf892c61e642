"""Typed times are read in the viewer's zone with the same DST rules as series."""

from datetime import UTC, datetime

from django.utils import timezone

from kapflow.scheduling.forms import LocalDateTimeField


def test_a_time_in_the_gap_moves_forward_and_an_ambiguous_one_is_the_first():
    field = LocalDateTimeField()
    with timezone.override("America/New_York"):
        assert field.clean("2026-03-08T02:30") == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
        assert field.clean("2026-11-01T01:30") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    with timezone.override("America/Los_Angeles"):
        assert field.clean("2026-11-01T01:30") == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_garbage_is_a_field_error():
    import pytest
    from django import forms

    with pytest.raises(forms.ValidationError):
        LocalDateTimeField().clean("next tuesday")
