"""Action hooks run after the decision, never block it, never change it."""

from __future__ import annotations

import threading
import time

from kubegate import DslFile, Engine
from kubegate.engine.hooks import HookCall

RULE = DslFile(
    "h.kgr",
    'RULE no_latest ON Pod WHEN ANY container c: c.image ENDS WITH ":latest"\n'
    '  THEN DENY("{c.name} uses latest") AND CALL notify("sec-team", c.name, "{namespace}/{name}")\n'
    "  AND CALL fails() AND CALL nobody()\n",
)
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "shop"},
    "spec": {"containers": [{"name": "a", "image": "x:latest"}, {"name": "b", "image": "y:latest"}]},
}


def test_hooks_get_their_arguments_after_the_decision() -> None:
    release = threading.Event()
    calls: list[HookCall] = []

    def notify(call: HookCall) -> None:
        release.wait(5)
        calls.append(call)

    def fails(call: HookCall) -> None:
        raise RuntimeError("ticketing system is down")

    engine = Engine(objects=[RULE], builtin=False, hooks={"notify": notify, "fails": fails})
    start = time.perf_counter()
    result = engine.review(POD)
    assert time.perf_counter() - start < 2, "the review did not wait for the hook"
    assert not result.allowed and len(result.violations) == 2
    assert calls == []
    release.set()
    assert engine.hooks.drain(5)
    assert sorted(c.args for c in calls) == [("sec-team", "a", "shop/p"), ("sec-team", "b", "shop/p")]
    assert {c.violation.policy for c in calls} == {"no_latest"}
    assert engine.hooks.failures == 2 and engine.hooks.completed == 2
    # The decision is the same with or without hooks registered.
    assert [v.to_dict() for v in Engine(objects=[RULE], builtin=False).review(POD).violations] == [
        v.to_dict() for v in result.violations
    ]
    engine.close()


def test_register_hook_later() -> None:
    engine = Engine(objects=[RULE], builtin=False)
    seen: list[str] = []
    engine.register_hook("notify", lambda call: seen.append(call.args[1]))
    engine.review(POD)
    assert engine.hooks.drain(5)
    assert sorted(seen) == ["a", "b"]
    engine.close()
