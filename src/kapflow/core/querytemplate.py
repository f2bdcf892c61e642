"""Querysets compiled once and run with new values (decision 0055).

Django spends 2-4 ms of CPU building and compiling the querysets of kapflow's hottest reads
(the API's actor with its roles, a client with its care team), several times what PostgreSQL
spends running them. A `QueryTemplate` builds its queryset from named arguments, compiles it
once per database and shape, and from then on runs the same SQL with the new values bound.

What keeps a value from one request out of another's query: a value reaches the SQL only as
one of the arguments, unchanged. At first use the template builds the queryset twice, with two
sets of probe values no caller would pass, and compiles both. The SQL must be the same text,
and each parameter either the same in both builds (a constant of the query) or exactly one
argument's probe in each (that argument's slot). Anything else refuses the template with
`TemplateError`: a value computed from an argument (`now - 1 day`), an argument written into
the SQL text, an argument the query does not use, a build that reads the clock. The builder
must be a pure function of its arguments (a module-level lambda over a selector); `shape`
arguments (a role set, an organisation kind) choose among query shapes: they reach the
builder as they are, are part of the cache key, and are never bound as values. `optional`
names the arguments that some shapes do not use (an admin's scope has no care-team grant).

Arguments bound as values are ints, strings and aware datetimes (adapted for the database as
a DateTimeField lookup adapts them). Tests: tests/core/test_querytemplate.py.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import QuerySet


class TemplateError(Exception):
    """The builder's queryset cannot be bound by position: see the module docstring."""


_PROBE_BASE = 7_919_000_000_000
MAX_SHAPES = 256  # compiled shapes kept per template
_INT64 = (-(2**63), 2**63 - 1)


def _probe(kind: type, index: int, side: int) -> Any:
    """A value of `kind` for argument `index`, different per side and per argument."""
    n = 2 * index + side
    if kind is int:
        return -(_PROBE_BASE + n)
    if kind is str:
        return f"\x1fqt-probe-{n}"
    if kind is datetime:
        return datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC) + timedelta(microseconds=1 + n)
    raise TemplateError(f"cannot bind a {kind.__name__}: only int, str and datetime")


def _kind(value: Any) -> type:
    if isinstance(value, bool) or value is None:
        raise TemplateError(f"cannot bind {value!r}: pass it as a shape argument")
    for kind in (int, str, datetime):
        if isinstance(value, kind):
            if kind is datetime and value.tzinfo is None:
                raise TemplateError("a datetime argument must be aware")
            return kind
    raise TemplateError(f"cannot bind a {type(value).__name__}: only int, str and datetime")


class _Compiled:
    __slots__ = ("compiler", "db", "params", "queryset", "slots", "sql")

    def __init__(self, queryset, compiler, sql, params, slots, db):
        self.queryset = queryset
        self.compiler = compiler
        self.sql = sql
        self.params = params
        self.slots = slots  # [(position, argument, adapt)]
        self.db = db


class QueryTemplate:
    """`build(**arguments) -> QuerySet`, compiled once per database and shape."""

    def __init__(
        self,
        build: Callable[..., QuerySet],
        *,
        shape: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
    ):
        self.build = build
        self.shape = shape
        self.optional = frozenset(optional)  # arguments some shapes do not use
        self._compiled: dict[Hashable, _Compiled] = {}
        self._lock = threading.Lock()

    # ---- running ------------------------------------------------------------------------

    def list(self, **arguments) -> list:
        shape = {name: arguments.pop(name) for name in self.shape}
        kinds = {name: _kind(value) for name, value in arguments.items()}
        if any(kinds[name] is int and not _INT64[0] <= value <= _INT64[1] for name, value in
               arguments.items()):  # fmt: skip
            # No column holds it: the ORM answers (an exact lookup matches nothing) where a
            # bound value would be a database error.
            return list(self.build(**shape, **arguments))
        bound = tuple(sorted((name, kind.__name__) for name, kind in kinds.items()))
        key = (tuple(sorted(shape.items())), bound)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(shape, kinds)
            with self._lock:
                if len(self._compiled) >= MAX_SHAPES:
                    # Bounded whatever callers ask for: the oldest shape compiles again.
                    self._compiled.pop(next(iter(self._compiled)))
                self._compiled.setdefault(key, compiled)
        params = list(compiled.params)
        for position, name, adapt in compiled.slots:
            params[position] = adapt(arguments[name])
        return self._run(compiled, tuple(params))

    def first(self, **arguments):
        rows = self.list(**arguments)
        return rows[0] if rows else None

    @staticmethod
    def _run(compiled: _Compiled, params: tuple) -> list:
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connections[compiled.db]
        sql = compiled.sql
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        queryset = compiled.queryset._chain()
        queryset.query.get_compiler = lambda *args, **kwargs: compiler
        return list(queryset)

    # ---- compiling ----------------------------------------------------------------------

    def _compile(self, shape: dict, kinds: dict[str, type]) -> _Compiled:
        names = sorted(kinds)
        probes = [
            {name: _probe(kinds[name], index, side) for index, name in enumerate(names)}
            for side in (0, 1)
        ]
        builds = []
        for side in (0, 1):
            queryset = self.build(**shape, **probes[side])
            compiler = queryset.query.get_compiler(using=queryset.db)
            sql, params = compiler.as_sql()
            builds.append((queryset, compiler, sql, tuple(params)))
        (queryset, compiler, sql, params), (_, _, sql_b, params_b) = builds
        if sql != sql_b or len(params) != len(params_b):
            raise TemplateError("an argument changes the SQL text: make it a shape argument")
        connection = connections[queryset.db]
        adapters = {
            int: lambda value, like: type(like)(value),
            str: lambda value, like: value,
            datetime: lambda value, like: connection.ops.adapt_datetimefield_value(value),
        }
        slots, used = [], set()
        for position, (a, b) in enumerate(zip(params, params_b, strict=True)):
            if type(a) is type(b) and a == b:
                continue
            name = next(
                (
                    n
                    for n in names
                    if _same(a, probes[0][n], connection) and _same(b, probes[1][n], connection)
                ),
                None,
            )
            if name is None:
                raise TemplateError(
                    f"parameter {position} ({a!r}) is not an argument as given: a value "
                    "computed in the builder, or state read outside its arguments"
                )
            adapt = adapters[kinds[name]]
            slots.append((position, name, lambda value, adapt=adapt, like=a: adapt(value, like)))
            used.add(name)
        unused = set(names) - used - self.optional
        if unused:
            raise TemplateError(f"arguments not used by the query: {', '.join(sorted(unused))}")
        return _Compiled(queryset, compiler, sql, params, slots, queryset.db)


def _same(param: Any, probe: Any, connection) -> bool:
    if isinstance(probe, datetime):
        return param == probe or param == connection.ops.adapt_datetimefield_value(probe)
    return type(param) is not bool and param == probe
