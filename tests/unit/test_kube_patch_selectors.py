"""Pure parts of the Kubernetes emulator: patches, selectors, template hashing."""

from __future__ import annotations

import pytest

from runbook.sandbox.kube.controller import template_key
from runbook.sandbox.kube.errors import ApiError
from runbook.sandbox.kube.patch import json_patch, merge_patch, strategic_merge
from runbook.sandbox.kube.selectors import labels_match, parse_fields, parse_labels

POD_SPEC = {"containers": [
    {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
     "ports": [{"containerPort": 80}]},
    {"name": "b", "image": "b:1"}]}


def test_strategic_merge_merges_lists_by_key() -> None:
    out = strategic_merge(POD_SPEC, {"containers": [
        {"name": "a", "image": "a:2", "env": [{"name": "Y", "$patch": "delete"},
                                             {"name": "Z", "value": "3"}]}]})
    a, b = out["containers"]
    assert a["image"] == "a:2" and b == {"name": "b", "image": "b:1"}
    assert [e["name"] for e in a["env"]] == ["X", "Z"] and a["ports"] == [{"containerPort": 80}]


def test_strategic_merge_directives() -> None:
    replaced = strategic_merge({"spec": {"a": 1, "b": 2}}, {"spec": {"$patch": "replace", "c": 3}})
    assert replaced == {"spec": {"c": 3}}
    ordered = strategic_merge(POD_SPEC, {"$setElementOrder/containers": [{"name": "b"},
                                                                         {"name": "a"}],
                                         "containers": [{"name": "a", "image": "a:3"}]})
    assert [c["name"] for c in ordered["containers"]] == ["b", "a"]
    assert strategic_merge({"finalizers": ["x"]}, {"finalizers": ["y"]}) == {"finalizers": ["x", "y"]}
    assert strategic_merge({"a": {"b": 1}}, {"a": None}) == {}


def test_merge_patch_replaces_lists_and_deletes_nulls() -> None:
    out = merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None, "d": 4}, "l": [3]})
    assert out == {"a": {"c": 2, "d": 4}, "l": [3]}


def test_json_patch_operations() -> None:
    doc = {"spec": {"replicas": 1, "list": [1, 2]}}
    out = json_patch(doc, [{"op": "replace", "path": "/spec/replicas", "value": 3},
                           {"op": "add", "path": "/spec/list/-", "value": 4},
                           {"op": "remove", "path": "/spec/list/0"},
                           {"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"},
                           {"op": "move", "from": "/spec/copy", "path": "/moved"},
                           {"op": "test", "path": "/moved", "value": 3}])
    assert out == {"spec": {"replicas": 3, "list": [2, 4]}, "moved": 3}
    assert doc == {"spec": {"replicas": 1, "list": [1, 2]}}  # the input is untouched
    with pytest.raises(ApiError) as failed:
        json_patch(doc, [{"op": "replace", "path": "/nope/x", "value": 1}])
    assert failed.value.code == 422


@pytest.mark.parametrize(("selector", "matches"), [
    ("app=web", True), ("app==web", True), ("app!=web", False), ("app in (web, api)", True),
    ("app notin (web)", False), ("tier", True), ("!tier", False), ("!missing", True),
    ("app=web,tier=front", True), ("app=web,tier=back", False), ("missing!=x", True),
])
def test_label_selectors(selector: str, matches: bool) -> None:
    obj = {"metadata": {"labels": {"app": "web", "tier": "front"}}}
    assert labels_match(parse_labels(selector), obj) is matches


def test_field_selectors_are_checked_per_kind() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
    reqs = parse_fields("status.phase=Running,metadata.name!=q", ("status.phase",), "Pod")
    assert all(r.matches(pod) for r in reqs)
    with pytest.raises(ApiError) as unknown:
        parse_fields("spec.bogus=1", ("status.phase",), "Pod")
    assert unknown.value.code == 400


def test_template_key_ignores_hash_label_and_empty_fields() -> None:
    a = {"metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}},
         "spec": {"containers": [{"name": "x", "image": "i", "resources": {}}]}}
    b = {"metadata": {"labels": {"app": "x"}, "creationTimestamp": None},
         "spec": {"containers": [{"name": "x", "image": "i"}]}}
    assert template_key(a) == template_key(b)
