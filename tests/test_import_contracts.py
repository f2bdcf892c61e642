"""The import contracts of issue 20: the floors in .importlinter (clinical, core, the apps, the
demo on top) and no import cycle between kapflow's modules beyond the known ones below.

No database: both checks read the source files (grimp), not the running app.
"""

import pathlib
import subprocess
import sys

import grimp

ROOT = pathlib.Path(__file__).resolve().parents[1]
LINT_IMPORTS = pathlib.Path(sys.executable).parent / "lint-imports"

# Cycles that exist today, each a group of modules that import one another (directly or round
# a loop). A cycle is tolerated only while all of its modules are inside one group: a new
# cycle, or a known one that grows to take in another module, fails the test. Remove a group
# once its cycle is gone.
KNOWN_CYCLES = [
    # The audit trail looks records up through patients.selectors (client_get_for_actor),
    # whose readers, like accounts.selectors, refuse through the audit trail.
    {"kapflow.accounts.selectors", "kapflow.audit.services", "kapflow.patients.selectors"},
    # Self-booking: directory.services books through scheduling.services, scheduling's
    # selectors read the directory's opening hours, and each app's services, selectors and
    # tasks import one another.
    {
        "kapflow.directory.selectors",
        "kapflow.directory.services",
        "kapflow.directory.tasks",
        "kapflow.scheduling.reminders",
        "kapflow.scheduling.selectors",
        "kapflow.scheduling.services",
        "kapflow.scheduling.tasks",
    },
    # The bulk export enqueues its task, which runs the export (fhir.tasks <-> fhir.export).
    {"kapflow.fhir.export", "kapflow.fhir.tasks"},
    # The scheduler's registry imports the jobs module, whose jobs register with it.
    {"kapflow.runtime.jobs", "kapflow.runtime.schedule"},
]


def _cycles(graph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    without recursion: the graph has hundreds of modules)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(edges[root]))]
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in edges:
                    continue  # a module outside kapflow
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def _unknown_cycles(graph) -> list[list[str]]:
    return [
        sorted(cycle)
        for cycle in _cycles(graph)
        if not any(cycle <= known for known in KNOWN_CYCLES)
    ]


def test_import_contracts_are_kept():
    """lint-imports with .importlinter (also run by `make lint`)."""
    result = subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_no_import_cycle_between_modules_but_the_known_ones():
    graph = grimp.build_graph("kapflow", cache_dir=None)
    assert _unknown_cycles(graph) == []


def test_cycle_check_finds_a_new_cycle():
    """The check above would see a new loop: add one to the real graph."""
    graph = grimp.build_graph("kapflow", cache_dir=None)
    graph.add_import(importer="kapflow.core.errors", imported="kapflow.notes.models")
    graph.add_import(importer="kapflow.notes.models", imported="kapflow.core.errors")
    assert ["kapflow.core.errors", "kapflow.notes.models"] in _unknown_cycles(graph)
