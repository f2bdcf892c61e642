"""Outcome scores and de-identified aggregates over JSON."""

from ninja import Router

router = Router(tags=["outcomes"])
