"""The SDK's decision observers: Engine(decision_log=...) records every review and evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate import Engine
from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.query import LogQuery
from kubegate.audit.wal import LogFull, Position

POLICY = """# METADATA
# custom:
#   id: team-label
package observers.team

import rego.v1

deny contains "a team label is required" if {
	not input.review.object.metadata.labels.team
}
"""


def _pod(name: str, **labels: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": {}}


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "team.rego").write_text(POLICY)
    return tmp_path / "p"


def test_reviews_and_evaluations_are_recorded(policies: Path, tmp_path: Path) -> None:
    logger = DecisionLogger(LogSettings(str(tmp_path / "log"), mode="strict", fsync="always"))
    engine = Engine([str(policies)], builtin=False, decision_log=logger)
    denied = engine.review(_pod("a"), user_info={"username": "bob@bank.example"})
    allowed = engine.evaluate("team-label", {"review": {"object": _pod("b", team="x")}})
    engine.close()
    logger.close()

    review, evaluation = LogQuery(str(tmp_path / "log")).records()
    assert review["path"] == "kubegate/review"
    assert review["result"]["allowed"] is denied.allowed is False
    assert review["result"]["violations"] == [
        {"policy": "team-label", "enforcement": "deny", "message": "a team label is required"}
    ]
    assert review["kubegate"]["policySetVersion"] == denied.policy_set_version
    assert review["kubegate"]["userInfo"] == {"username": "<redacted:email>"}
    assert review["input"]["review"]["object"]["metadata"]["name"] == "a"

    assert evaluation["path"] == "kubegate/evaluate/team-label"
    assert evaluation["result"]["allowed"] is allowed.allowed is True
    assert evaluation["input"] == {"review": {"object": _pod("b", team="x")}}  # as given
    assert evaluation["kubegate"]["policies"][0]["version"] == allowed.version


def test_standard_mode_and_off(policies: Path, tmp_path: Path) -> None:
    for mode in ("standard", "off"):
        directory = tmp_path / mode
        logger = DecisionLogger(LogSettings(str(directory), mode=mode))
        engine = Engine([str(policies)], builtin=False, decision_log=logger)
        engine.review(_pod("a"))
        engine.close()
        logger.close()
        records = list(LogQuery(str(directory)).records())
        if mode == "off":
            assert records == []
        else:
            [record] = records
            assert "input" not in record and record["result"]["allowed"] is False


def test_a_full_log_with_fail_closed_raises_from_review(policies: Path, tmp_path: Path) -> None:
    """A sink that never advances (its checkpoint stays at the start) keeps every record:
    the log fills to its bound and fail_closed refuses the next review."""
    settings = LogSettings(
        str(tmp_path / "log"),
        mode="strict",
        segment_bytes=64 * 1024,
        max_bytes=64 * 1024,
        full_policy="fail_closed",
    )
    logger = DecisionLogger(settings)
    logger.wal.save_checkpoint("stuck", Position(1, 0))
    engine = Engine([str(policies)], builtin=False, decision_log=logger)
    big = _pod("a", team="x")
    big["metadata"]["annotations"] = {"padding": "x" * 4096}  # type: ignore[index]
    with pytest.raises(LogFull) as raised:
        for _ in range(100):
            engine.review(big)
    assert raised.value.code == "decision_log_full"
    engine.close()
    logger.close()
