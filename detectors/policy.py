"""The operator's policy file: what only the operator knows (owners, patterns, thresholds).

Everything has a default, so fleetwatch runs without a policy file. Validation errors name the
offending key (``detectors.loops.thresold: extra inputs are not permitted``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from detectors.patterns import DEFAULT_PATTERNS


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentPolicy(_Strict):
    owners: tuple[str, ...] = ()
    authorised: tuple[str, ...] = Field(
        default=(), description="Principals other than owners allowed to instruct the agent."
    )
    principal: str | None = Field(default=None, description="The agent's own principal id.")


class PrincipalPolicy(_Strict):
    names: tuple[str, ...] = ()


class Patterns(_Strict):
    destructive: tuple[str, ...] = DEFAULT_PATTERNS.destructive
    sensitive: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PATTERNS.sensitive))
    identity_files: tuple[str, ...] = DEFAULT_PATTERNS.identity_files
    persistent_process: tuple[str, ...] = DEFAULT_PATTERNS.persistent_process
    refusal: tuple[str, ...] = DEFAULT_PATTERNS.refusal
    error_text: tuple[str, ...] = DEFAULT_PATTERNS.error_text

    @field_validator("destructive", "identity_files", "persistent_process", "refusal", "error_text")
    @classmethod
    def _compiles(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _check_regex(value)
        return values

    @field_validator("sensitive")
    @classmethod
    def _sensitive_compiles(cls, values: dict[str, str]) -> dict[str, str]:
        for value in values.values():
            _check_regex(value)
        return values


class DetectorPolicy(_Strict):
    enabled: bool = True
    threshold: float | None = Field(default=None, ge=0.0)
    window_seconds: float | None = Field(default=None, gt=0)
    slide_seconds: float | None = Field(default=None, gt=0)
    params: dict[str, Any] = Field(default_factory=dict)


class Policy(_Strict):
    agents: dict[str, AgentPolicy] = Field(default_factory=dict)
    principals: dict[str, PrincipalPolicy] = Field(default_factory=dict)
    patterns: Patterns = Field(default_factory=Patterns)
    detectors: dict[str, DetectorPolicy] = Field(default_factory=dict)

    def for_detector(self, name: str) -> DetectorPolicy:
        return self.detectors.get(name, DetectorPolicy())

    def owners_of(self, agent: str) -> tuple[str, ...]:
        entry = self.agents.get(agent)
        return entry.owners if entry else ()

    def authorised_for(self, agent: str) -> tuple[str, ...]:
        entry = self.agents.get(agent)
        return (entry.owners + entry.authorised) if entry else ()


def _check_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"not a valid regular expression ({error}): {value!r}") from error


def load_policy(path: Path | None) -> Policy:
    """The policy at ``path``, or the defaults when no path is configured."""
    if path is None:
        return Policy()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PolicyError(f"{path}: cannot read policy: {error}") from error
    return parse_policy(raw or {}, source=str(path))


def parse_policy(raw: object, source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(raw)
    except ValidationError as error:
        raise PolicyError(describe_errors(error, source)) from None


def describe_errors(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {item['msg'].lower()}")
    return "\n".join(lines)
