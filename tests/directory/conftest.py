from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache

# Monday 7 December 2026, 08:00 in Portland.
FROZEN = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(FROZEN, tick=False):
        yield FROZEN


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()
    yield
    cache.clear()
