"""Ground truth for a simulated run: the labels file and its reader.

A labels file is JSON lines. The first line is the run summary (``"type": "run"``); every other
line is one injected incident (``"type": "incident"``). The format is described in
docs/scenarios.md; ``read_labels`` is the one reader the evaluation should use.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LABELS_FORMAT = 1
MAX_LABEL_LINE = 4 * 1024 * 1024


@dataclass(frozen=True)
class IncidentLabel:
    incident_id: str
    kind: str  # scenario family, e.g. "fan_out_storm" or "negative_prompt_injection"
    case: str  # "CS1".."CS11", "CS12-16" for resisted attacks, "market" for market patterns
    scenario: str  # registry name of the scenario that produced it
    variant: str
    harmful: bool  # False for resisted attacks and benign practice sharing (CS9)
    also_kinds: tuple[str, ...]  # other families a detector may rightly report it as
    agents: tuple[str, ...]  # gen_ai.agent.id values involved
    principals: tuple[str, ...]  # fleet.principal.id values involved (humans and agents)
    start_ns: int
    end_ns: int
    trace_ids: tuple[str, ...]  # 32-char lower-case hex, as in otel_traces.TraceId
    tenant: str
    run_id: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def negative(self) -> bool:
        return self.kind.startswith("negative_")

    def matches_kind(self, kind: str) -> bool:
        return kind == self.kind or kind in self.also_kinds


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    seed: int
    tenant: str
    start_ns: int
    end_ns: int
    duration_s: float
    agents: tuple[str, ...]
    market_agents: tuple[str, ...]
    agent_hours: float  # every simulated agent over the whole run
    benign_agent_hours: float  # agent_hours minus each incident's agents over its window
    incidents: int
    spans: int
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunLabels:
    run: RunSummary
    incidents: tuple[IncidentLabel, ...]

    def by_kind(self, kind: str) -> list[IncidentLabel]:
        return [incident for incident in self.incidents if incident.kind == kind]


def write_labels(path: Path, run: RunSummary, incidents: list[IncidentLabel]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"type": "run", "format": LABELS_FORMAT, **asdict(run)}) + "\n")
        for incident in incidents:
            handle.write(json.dumps({"type": "incident", **asdict(incident)}) + "\n")


def _tuples(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {**record, **{name: tuple(record[name]) for name in names if name in record}}


def read_labels(path: Path | str) -> RunLabels:
    """Parse a labels file; raises ValueError when it is not one (or a newer format)."""
    run: RunSummary | None = None
    incidents: list[IncidentLabel] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if len(line) > MAX_LABEL_LINE:
                raise ValueError(f"{path}:{number}: line too long")
            if not line.strip():
                continue
            record = json.loads(line)
            kind = record.pop("type", None)
            try:
                if kind == "run":
                    if record.pop("format", None) != LABELS_FORMAT:
                        raise ValueError(f"{path}: unsupported labels format")
                    run = RunSummary(**_tuples(record, ("agents", "market_agents")))
                elif kind == "incident":
                    fields = ("also_kinds", "agents", "principals", "trace_ids")
                    incidents.append(IncidentLabel(**_tuples(record, fields)))
                else:
                    raise ValueError(f"{path}:{number}: unknown record type {kind!r}")
            except TypeError as error:  # missing or unexpected fields
                raise ValueError(f"{path}:{number}: malformed {kind} record: {error}") from None
    if run is None:
        raise ValueError(f"{path}: no run summary line")
    return RunLabels(run, tuple(incidents))
