"""Every table is a decision for the practice export (kapflow.portability.graph): its rows are
the practice's, follow a parent or a person, go whole, are reached by reference, or are left
out with a reason. The graph agrees with the distribution keys of decision 0044."""

from kapflow.portability import graph
from tests.runtime.test_distribution_keys import REFERENCE_TABLES, VIA_PARENT


def test_every_model_has_an_export_rule():
    undecided = [m._meta.label for m in graph.exported_models() if graph.rule_for(m) == "none"]
    assert not undecided, f"decide how kapflow export treats {undecided} (graph.py)"


def test_children_follow_the_same_parents_as_the_distribution_keys():
    for label, field in VIA_PARENT.items():
        assert graph.CHILDREN[label] == field, label


def test_reference_tables_are_not_taken_whole_by_accident():
    by_label = {m._meta.label: m for m in graph.exported_models()}
    for label in REFERENCE_TABLES:
        assert graph.rule_for(by_label[label]) in {"left out", "reference", "personal", "child",
                                                   "partnership"}, label  # fmt: skip


def test_listed_tables_exist():
    labels = {m._meta.label for m in graph.exported_models()}
    listed = {
        *graph.CHILDREN,
        *graph.PERSONAL,
        *graph.PROFESSIONAL,
        *graph.WHOLE,
        *graph.BY_REFERENCE,
        *graph.LEFT_OUT,
    }
    assert listed <= labels, listed - labels
