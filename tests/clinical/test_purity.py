"""kapflow.clinical must stay pure: no Django, no database, no settings."""

import ast
import pathlib

import kapflow.clinical

CLINICAL = pathlib.Path(kapflow.clinical.__file__).parent
FORBIDDEN = ("django", "kapflow.accounts", "kapflow.patients", "kapflow.audit", "kapflow.core")


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_clinical_modules_import_no_django():
    offenders = [
        (path.name, name)
        for path in CLINICAL.rglob("*.py")
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    ]
    assert offenders == []
    assert len(list(CLINICAL.rglob("*.py"))) >= 3
