"""The policy file: defaults without it, clear errors naming the bad key, detector params."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from detectors.base import Detector
from detectors.context import EvalContext
from detectors.model import Candidate
from detectors.policy import Policy, PolicyError, load_policy, parse_policy
from detectors.registry import DetectorRegistry, DuplicateDetectorError


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_count: int = 3


class Counting(Detector[_Params]):
    name = "counting"
    summary = "test detector"
    params_model = _Params

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        return []


def test_no_file_means_defaults() -> None:
    policy = load_policy(None)
    assert policy.agents == {}
    assert "ssn" in policy.patterns.sensitive
    assert policy.for_detector("loops").enabled


def test_full_policy_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "agents:\n"
        "  agent-ash:\n"
        "    owners: ['discord:1001']\n"
        "    authorised: ['discord:1003']\n"
        "    principal: 'discord:2001'\n"
        "principals:\n"
        "  'discord:1001': {names: [Chris]}\n"
        "patterns:\n"
        "  sensitive: {employee_id: 'EMP-\\d{6}'}\n"
        "detectors:\n"
        "  counting: {threshold: 0.8, window_seconds: 120, params: {min_count: 7}}\n",
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.owners_of("agent-ash") == ("discord:1001",)
    assert policy.authorised_for("agent-ash") == ("discord:1001", "discord:1003")
    assert policy.patterns.sensitive == {"employee_id": r"EMP-\d{6}"}
    detector = Counting.from_policy(policy)
    assert detector.params.min_count == 7
    assert detector.threshold == 0.8
    assert detector.window_ns == 120 * 10**9


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"detectors": {"loops": {"thresold": 1}}}, "detectors.loops.thresold: extra inputs"),
        ({"agents": {"ash": {"owners": 5}}}, "agents.ash.owners"),
        ({"patterns": {"destructive": ["(unclosed"]}}, "patterns.destructive"),
        ({"detectors": {"loops": {"threshold": -1}}}, "detectors.loops.threshold"),
        ({"agent": {}}, "agent: extra inputs"),
    ],
)
def test_errors_name_the_bad_key(raw: object, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(raw, source="policy.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("policy.yaml: ")


def test_bad_detector_params_name_the_detector() -> None:
    policy = parse_policy({"detectors": {"counting": {"params": {"min_cnt": 2}}}})
    with pytest.raises(PolicyError, match=r"detectors\.counting\.params: min_cnt"):
        Counting.from_policy(policy)


def test_unreadable_yaml_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("agents: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(path)


def test_registry_refuses_duplicates() -> None:
    registry = DetectorRegistry()
    registry.register(Counting.from_policy(Policy()))
    with pytest.raises(DuplicateDetectorError):
        registry.register(Counting.from_policy(Policy()))
    assert registry.names() == ["counting"]
