"""One name per schema class: the OpenAPI document keys its components by class name, so two
classes with one name leave one definition for both and the document lies about the other
(issue 13: a consent signature documented as a note's, journal entries as session entries)."""

import importlib
import pkgutil
from collections import defaultdict

from ninja import Schema
from pydantic import BaseModel

import kapflow
from kapflow.api import api
from tests.api.openapi import REF_PREFIX, all_classes, operation_classes, operations


def _duplicates(classes) -> dict[str, list[str]]:
    by_name = defaultdict(set)
    for cls in classes:
        by_name[cls.__name__].add(f"{cls.__module__}.{cls.__qualname__}")
    return {name: sorted(where) for name, where in by_name.items() if len(where) > 1}


def _api_module_schemas() -> list[type]:
    """Every ninja Schema class found in (defined in or imported into) a kapflow.*.api module."""
    found: dict = {}
    for info in pkgutil.iter_modules(kapflow.__path__):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"kapflow.{info.name}.api")
        except ModuleNotFoundError as missing:
            if missing.name != f"kapflow.{info.name}.api":
                raise
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Schema) and value is not Schema:
                found.setdefault(id(value), value)
    return list(found.values())


def test_every_operation_is_walked():
    walked = list(operations())
    assert len(walked) > 100
    # Each operation names its payload and response classes.
    classes = {c.__name__ for _, _, op in walked for c in operation_classes(op)}
    assert {"ConsentSignIn", "NoteSignIn", "JournalEntryOut", "SessionEntryOut"} <= classes


def test_no_two_schema_classes_of_the_api_share_a_name():
    assert _duplicates(all_classes()) == {}


def test_no_two_schema_classes_in_the_api_modules_share_a_name():
    schemas = _api_module_schemas()
    assert len(schemas) > 150
    assert _duplicates([*schemas, *all_classes()]) == {}


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_ref_names_a_component():
    document = api.get_openapi_schema()
    components = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs
    assert {r for r in refs if not r.startswith(REF_PREFIX)} == set()
    assert {r.removeprefix(REF_PREFIX) for r in refs} - set(components) == set()


def test_each_component_is_the_class_of_its_name():
    """The definition that survives under a name has that class's properties: no other
    class's definition took its place."""
    document = api.get_openapi_schema()
    components = document["components"]["schemas"]
    checked = 0
    for cls in all_classes():
        if not issubclass(cls, BaseModel) or cls.__name__ not in components:
            continue
        expected = cls.model_json_schema(by_alias=True).get("properties", {})
        assert set(components[cls.__name__].get("properties", {})) == set(expected), cls
        checked += 1
    assert checked > 100
