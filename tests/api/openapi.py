"""Helpers for tests of the OpenAPI document: the schema classes each operation uses, $ref
resolution, and a small JSON Schema check of live responses against the served document."""

import datetime
import enum
import typing

from pydantic import BaseModel

from kapflow.api import api

REF_PREFIX = "#/components/schemas/"


def operations():
    """(method, path, operation) for every operation of the API, as the document lists them."""
    for bound_router in api._get_bound_routers():
        for path, path_view in bound_router.path_operations.items():
            for operation in path_view.operations:
                if operation.include_in_schema:
                    for method in operation.methods:
                        yield method, f"{bound_router.prefix}/{path}", operation


def _wrapped_models(operation):
    """Ninja's generated wrappers around the view's parameters and responses (not components
    themselves: the classes inside them are)."""
    wrappers = list(operation.models)
    for model in (operation.response_models or {}).values():
        if isinstance(model, type) and issubclass(model, BaseModel):
            wrappers.append(model)
    return wrappers


def _types_in(annotation, found: dict):
    """Every model and enum class reachable from a type annotation, by identity."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if id(annotation) not in found:
            found[id(annotation)] = annotation
            for field in annotation.model_fields.values():
                _types_in(field.annotation, found)
        return
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        found.setdefault(id(annotation), annotation)
        return
    for arg in typing.get_args(annotation):
        _types_in(arg, found)


def operation_classes(operation) -> list[type]:
    """The schema classes (models and enums) one operation's parameters and responses use."""
    found: dict = {}
    for wrapper in _wrapped_models(operation):
        for field in wrapper.model_fields.values():
            _types_in(field.annotation, found)
    return list(found.values())


def all_classes() -> list[type]:
    """Every schema class any operation of the API uses, each once."""
    found: dict = {}
    for _, _, operation in operations():
        for cls in operation_classes(operation):
            found.setdefault(id(cls), cls)
    return list(found.values())


def class_named(name: str) -> type:
    (cls,) = [c for c in all_classes() if c.__name__ == name]
    return cls


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith(REF_PREFIX), ref
        schema = document["components"]["schemas"][ref.removeprefix(REF_PREFIX)]
    return schema


def ref_name(schema: dict) -> str:
    return schema["$ref"].removeprefix(REF_PREFIX)


def response_schema(document: dict, method: str, path: str, status: int = 200) -> dict:
    """The documented JSON schema of one response (unresolved: a $ref or an array of them)."""
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def request_schema(document: dict, method: str, path: str) -> dict:
    body = document["paths"][path][method.lower()]["requestBody"]
    return resolve(document, body["content"]["application/json"]["schema"])


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def mismatches(document: dict, schema: dict, value, where: str = "$") -> list[str]:
    """Where `value` (parsed JSON) disagrees with `schema` from `document`: types, required and
    undocumented properties, enums, formats of dates. Empty when it conforms."""
    schema = resolve(document, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [mismatches(document, s, value, where) for s in schema[key]]
            if any(not found for found in options):
                return []
            return [f"{where}: matches none of {key}: {options}"]
    problems: list[str] = []
    for part in schema.get("allOf", []):
        problems += mismatches(document, part, value, where)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is(k, value) for k in kinds):
            return [*problems, f"{where}: {value!r} is not {kind}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str) and schema.get("format") in ("date", "date-time"):
        parse = datetime.date if schema["format"] == "date" else datetime.datetime
        try:
            parse.fromisoformat(value)
        except ValueError:
            problems.append(f"{where}: {value!r} is not a {schema['format']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: required {name!r} is missing")
        extra = schema.get("additionalProperties", not properties)
        for name, item in value.items():
            if name in properties:
                problems += mismatches(document, properties[name], item, f"{where}.{name}")
            elif isinstance(extra, dict):
                problems += mismatches(document, extra, item, f"{where}.{name}")
            elif extra is not True:
                problems.append(f"{where}: {name!r} is not documented")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += mismatches(document, schema["items"], item, f"{where}[{index}]")
    return problems


def _is(kind: str, value) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])
