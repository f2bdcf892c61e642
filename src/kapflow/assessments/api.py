"""Instruments, assignments and responses over JSON."""

from ninja import Router

router = Router(tags=["assessments"])
