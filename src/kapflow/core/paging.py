"""Pages of a long list that never count the whole list (decision 0042).

Django's Paginator counts every matching row before it shows one page: at 100,000 clients
that COUNT was most of a caseload page's database time. A bounded page counts at most
COUNT_CAP + 1 rows (so it can say "1000+") and fetches one row more than it shows (so it
knows whether a next page exists). Templates and the API read the same attributes as from
Django's Page and Paginator, plus `count_exact`, `count_label` and `num_pages_label`.

Fixed cost whatever the list's length: the page's rows (one query) and the bounded count
(one query), however deep the list is; a deep page still reads the rows before it, which
only someone paging on by hand ever asks for.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import QuerySet

COUNT_CAP = 1000


@dataclass(frozen=True)
class BoundedPaginator:
    """`count` is the number of rows when `count_exact`, else COUNT_CAP (there are more)."""

    count: int
    count_exact: bool
    per_page: int

    @property
    def num_pages(self) -> int:
        return max(1, math.ceil(self.count / self.per_page))

    @property
    def count_label(self) -> str:
        return str(self.count) if self.count_exact else f"{self.count}+"

    @property
    def num_pages_label(self) -> str:
        return str(self.num_pages) if self.count_exact else f"{self.num_pages}+"


@dataclass
class BoundedPage:
    object_list: list
    number: int
    paginator: BoundedPaginator
    more: bool = field(default=False)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    def has_next(self) -> bool:
        return self.more

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def page_number(value) -> int:
    """A page number from input as Django's Paginator.get_page reads it: anything that is not
    a positive whole number is page 1."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def bounded_page(qs: QuerySet, *, number, per_page: int, cap: int | None = None) -> BoundedPage:
    """One page of an ordered queryset: two queries (the page's rows plus one, the bounded
    count, up to `cap`, default COUNT_CAP). A number past the end shows the last page when
    the count is exact (as Django's get_page does), else an empty page."""
    return bounded_page_of(
        count=lambda limit: qs.order_by()[:limit].count(),
        rows=lambda start, stop: list(qs[start:stop]),
        number=number,
        per_page=per_page,
        cap=cap,
    )


def bounded_page_of(
    *,
    count: Callable[[int], int],
    rows: Callable[[int, int], list],
    number,
    per_page: int,
    cap: int | None = None,
) -> BoundedPage:
    """bounded_page for a list read some other way (a compiled query, say): `count(limit)`
    counts at most `limit` rows, `rows(start, stop)` returns the rows in [start, stop)."""
    cap = COUNT_CAP if cap is None else cap
    number = page_number(number)
    counted = count(cap + 1)
    paginator = BoundedPaginator(
        count=min(counted, cap), count_exact=counted <= cap, per_page=per_page
    )
    if paginator.count_exact and number > paginator.num_pages:
        number = paginator.num_pages
    start = (number - 1) * per_page
    found = rows(start, start + per_page + 1)
    return BoundedPage(
        object_list=found[:per_page], number=number, paginator=paginator, more=len(found) > per_page
    )
