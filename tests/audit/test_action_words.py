"""Every audit action code the code base writes has words (kapflow.audit.actions.ACTIONS).

The codes are found by reading the source (ast), not by a list kept by hand: string
literals passed as `action=` / `audit_action=` to any call, the defaults of parameters with
those names, positional arguments in those parameters' places, and both branches of a
conditional. An f-string code (`f"referral.{status}"`) must have its family in FAMILIES
below, with the values it can take, and every value needs words too.
"""

import ast
import re
from pathlib import Path

import pytest

import kapflow
from kapflow.audit.actions import ACTIONS, UNKNOWN, Kind, action_words

SRC = Path(kapflow.__file__).parent
CODE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*$")
PARAMS = {"action", "audit_action"}


def _families() -> dict[str, list[str]]:
    from kapflow.amendments.services import DECISIONS
    from kapflow.clinical.course import Action
    from kapflow.courses.services import RECORDABLE
    from kapflow.encounters.models import EntryKind
    from kapflow.prescriptions.models import Decision, ReferralStatus
    from kapflow.scheduling.models import AppointmentStatus
    from kapflow.scheduling.services import ENCOUNTER_STEPS

    return {
        "amendment.": list(DECISIONS),
        "appointment.": [AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW],
        "appointment.encounter_": list(ENCOUNTER_STEPS),
        "course.": [a.value for a in Action],
        "course.record_": [k.value for k in RECORDABLE],
        "dosing_session.": list(EntryKind.values),
        "eligibility.": list(Decision.values),
        "referral.": [ReferralStatus.DECLINED, ReferralStatus.WITHDRAWN],
    }


def _values(node):
    """('code', text) for a string, ('family', prefix) for an f-string; others skipped."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if CODE.match(node.value):
            yield "code", node.value
    elif isinstance(node, ast.IfExp):
        yield from _values(node.body)
        yield from _values(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _values(value)
    elif isinstance(node, ast.JoinedStr):
        prefix = ""
        for part in node.values:
            if not isinstance(part, ast.Constant):
                break
            prefix += part.value
        yield "family", prefix


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def written_codes() -> tuple[dict[str, str], dict[str, str]]:
    """(codes, families), each mapped to one place that writes it."""
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8"))
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts
    }
    positions: dict[str, set[int]] = {}
    codes: dict[str, str] = {}
    families: dict[str, str] = {}

    def found(nodes, where):
        for kind, value in nodes:
            (codes if kind == "code" else families).setdefault(value, where)

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args.posonlyargs + node.args.args
            for index, arg in enumerate(args):
                if arg.arg in PARAMS:
                    positions.setdefault(node.name, set()).add(index)
            positional = args[len(args) - len(node.args.defaults) :]
            defaults = list(zip(positional, node.args.defaults, strict=True))
            defaults += list(zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True))
            for arg, default in defaults:
                if arg.arg in PARAMS and default is not None:
                    found(_values(default), f"{path.relative_to(SRC)}:{default.lineno}")
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            for keyword in node.keywords:
                if keyword.arg in PARAMS:
                    found(_values(keyword.value), where)
            for index in positions.get(_callee(node), ()):
                if index < len(node.args):
                    found(_values(node.args[index]), where)
    return codes, families


def test_the_scan_finds_the_codes_it_should():
    # A guard on the scanner itself: one code of each way of writing one.
    codes, families = written_codes()
    assert {"client.view", "auth.session_end", "appointment.list", "course.view"} <= set(codes)
    assert {"referral.", "course.record_", "dosing_session."} <= set(families)


def test_every_action_code_written_has_words():
    codes, _families_found = written_codes()
    missing = {code: where for code, where in codes.items() if code not in ACTIONS}
    assert not missing, f"add words to kapflow.audit.actions.ACTIONS for {missing}"


def test_every_family_of_codes_has_words_for_each_value():
    _codes, families = written_codes()
    known = _families()
    unknown = {prefix: where for prefix, where in families.items() if prefix not in known}
    assert not unknown, f"list the values of these f-string codes in FAMILIES: {unknown}"
    missing = [
        f"{prefix}{value}"
        for prefix, values in known.items()
        for value in values
        if f"{prefix}{value}" not in ACTIONS
    ]
    assert not missing, f"add words to kapflow.audit.actions.ACTIONS for {missing}"


@pytest.mark.parametrize("code", sorted(ACTIONS))
def test_words_are_words_and_reads_say_what_they_show(code):
    words = ACTIONS[code]
    assert words.words and words.words[0].isupper() and code not in words.words
    assert not CODE.match(words.words)
    if words.kind in (Kind.READ, Kind.SHARE, Kind.RELEASE):
        assert words.what, f"{code}: say what it shows or sends"


def test_an_unknown_code_reads_as_words_not_as_the_code():
    assert action_words("something.removed_long_ago") is UNKNOWN
    assert "." not in UNKNOWN.words
