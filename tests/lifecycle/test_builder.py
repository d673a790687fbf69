"""Incremental builds and the last-good fallback."""

from __future__ import annotations

from kubegate.lifecycle.builder import PolicySetBuilder
from tests.lifecycle.conftest import constraint, rule, template


def messages(result, policy_ids=None):  # type: ignore[no-untyped-def]
    from tests.lifecycle.conftest import review

    return sorted(v.message for v in result.prepared.review(review()).violations)


def test_a_one_file_change_rebuilds_that_file_only(builder: PolicySetBuilder) -> None:
    files = {"a.kgr": rule("a", "v1"), "t.yaml": template("K8sT", "t v1"), "c.yaml": constraint("K8sT", "c")}
    first = builder.build(files)
    assert not first.errors and messages(first) == ["a v1", "t v1"]
    units_before = {u.owners: u.compiled for u in first.prepared.units}
    second = builder.build({**files, "a.kgr": rule("a", "v2")}, first)
    assert second.applied and not second.rejected and messages(second) == ["a v2", "t v1"]
    reused = [u for u in second.prepared.units if units_before.get(u.owners) is u.compiled]
    assert [u.owners for u in reused] == [("template:K8sT",)], "the untouched template unit is reused as compiled"
    assert builder._catalog.hits >= 2


def test_a_broken_file_keeps_its_last_good_content(builder: PolicySetBuilder) -> None:
    files = {"a.kgr": rule("a", "v1"), "b.kgr": rule("b", "v1")}
    good = builder.build(files)
    half_written = {"a.kgr": 'RULE a ON Pod WHEN kind == "Pod" THEN DENY("a v2', "b.kgr": rule("b", "v2")}
    result = builder.build(half_written, good)
    assert result.applied and set(result.rejected) == {"a.kgr"}
    assert result.rejected["a.kgr"][0].code == "dsl_parse_error"
    assert messages(result) == ["a v1", "b v2"], "a keeps its last good version, b is updated"
    assert result.files["a.kgr"] == files["a.kgr"]
    # Saving the same broken content again is still rejected (not remembered as "known").
    again = builder.build(half_written, result)
    assert set(again.rejected) == {"a.kgr"} and messages(again) == ["a v1", "b v2"]
    fixed = builder.build({"a.kgr": rule("a", "v3"), "b.kgr": rule("b", "v2")}, again)
    assert not fixed.rejected and messages(fixed) == ["a v3", "b v2"]


def test_a_new_broken_file_is_left_out_and_a_deleted_file_is_removed(builder: PolicySetBuilder) -> None:
    good = builder.build({"a.kgr": rule("a", "v1"), "b.kgr": rule("b", "v1")})
    result = builder.build(
        {"a.kgr": rule("a", "v1"), "new.kgr": 'RULE x ON Podd WHEN kind == "Pod" THEN DENY("x")\n'}, good
    )
    assert result.applied and set(result.rejected) == {"new.kgr"}
    assert messages(result) == ["a v1"], "b.kgr was deleted on purpose; new.kgr never loaded"


def test_errors_no_single_file_explains_reject_the_whole_update(builder: PolicySetBuilder) -> None:
    files = {"t.yaml": template("K8sT", "t v1"), "c.yaml": constraint("K8sT", "c")}
    good = builder.build(files)
    # Deleting the template leaves its constraint dangling: the last good set stays.
    result = builder.build({"c.yaml": files["c.yaml"]}, good)
    assert not result.applied and result.prepared is good.prepared
    assert any(e.code == "template_not_found" for e in result.errors)
    # A new file reusing a policy id is what is wrong: it is kept out, the rest applies.
    duplicate = builder.build(
        {**files, "again.kgr": rule("K8sT/c", "dup").replace("RULE K8sT/c", 'RULE "K8sT/c"')}, good
    )
    assert duplicate.applied and set(duplicate.rejected) == {"again.kgr"}
    assert duplicate.rejected["again.kgr"][0].code == "duplicate_policy_id"
    assert messages(duplicate) == ["t v1"]


EXPANSION = (
    "apiVersion: expansion.gatekeeper.sh/v1beta1\nkind: ExpansionTemplate\nmetadata: {name: expand-widgets}\n"
    "spec:\n  applyTo: [{groups: [example.com], kinds: [WidgetSet], versions: [v1]}]\n"
    "  templateSource: spec.template\n  generatedGVK: {group: '', version: v1, kind: Pod}\n"
)


def test_expansion_templates_are_part_of_the_policy_set(builder: PolicySetBuilder) -> None:
    files = {"t.yaml": template("K8sT", "t v1"), "c.yaml": constraint("K8sT", "c")}
    plain = builder.build(files)
    names = [t.name for t in plain.prepared.expansion.templates]
    assert names == ["kubegate-expand-cronjobs", "kubegate-expand-workloads"]  # the built-in ones
    with_widgets = builder.build({**files, "widgets.yaml": EXPANSION}, plain)
    assert with_widgets.applied and "expand-widgets" in [t.name for t in with_widgets.prepared.expansion.templates]
    assert with_widgets.prepared.version != plain.prepared.version  # decision caches see the change
    widget_set = {
        "apiVersion": "example.com/v1",
        "kind": "WidgetSet",
        "metadata": {"name": "w", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": []}}},
    }
    from kubegate.policy.review import review_from_object

    result = with_widgets.prepared.review(review_from_object(widget_set))
    assert [v.message for v in result.violations] == ["[Implied by expand-widgets] t v1"]
    # A broken edit keeps the file's last good content, as for any policy file.
    broken = builder.build(
        {**files, "widgets.yaml": EXPANSION.replace("templateSource: spec.template", "")}, with_widgets
    )
    assert set(broken.rejected) == {"widgets.yaml"}
    assert broken.rejected["widgets.yaml"][0].code == "invalid_expansion_template"
    assert "expand-widgets" in [t.name for t in broken.prepared.expansion.templates]
