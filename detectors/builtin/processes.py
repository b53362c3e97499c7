"""Persistent processes created and never torn down (CS4): background loops, cron jobs and
daemons an agent starts (``fleet.process.state = started``, or a tool call whose arguments
match a persistent-process pattern) with no matching ``stopped`` after a while.

Open processes are tracked incrementally in the detector's baseline (only spans newer than its
cursor are read), so a process started hours ago is remembered without rescanning history.
Processes started on the word of someone other than the owner (a peer agent, a stranger) are
flagged sooner than the owner's own long-running jobs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from detectors.base import SECOND_NS, Detector
from detectors.builtin.util import any_match
from detectors.context import WHOLE_MAPS, EvalContext
from detectors.model import Candidate, Evidence, Requirement

MAX_OPEN = 2000
# Only the tool calls past the cursor are new (the rest of the window is in the baseline), each
# with the principal of its trace's first turn (which may have begun before the cursor).
_NEW_ACTS = (
    "{window} AND Operation = 'execute_tool' AND Timestamp >= fromUnixTimestamp64Nano({since:Int64})"
    " AND NOT (StatusCode = 'STATUS_CODE_ERROR' OR SpanAttributes['error.type'] != '')"
)
NEW_ACTS_SQL = f"""
SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId AS trace, SpanId AS span, AgentId AS agent,
       SpanAttributes['fleet.process.id'] AS process,
       SpanAttributes['fleet.process.state'] AS process_state,
       SpanAttributes['gen_ai.tool.call.arguments'] AS arguments
FROM otel_traces WHERE {_NEW_ACTS}
ORDER BY ts
{WHOLE_MAPS}
"""
INSTRUCTORS_SQL = f"""
SELECT TraceId AS trace, argMin(PrincipalId, Timestamp) AS instructor
FROM otel_traces
WHERE {{window}} AND Operation = 'invoke_agent'
  AND TraceId IN (SELECT TraceId FROM otel_traces WHERE {_NEW_ACTS})
GROUP BY TraceId
{WHOLE_MAPS}
"""


class ProcessParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    orphan_after_seconds: float = 5400.0
    untrusted_orphan_after_seconds: float = 900.0


class OrphanProcesses(Detector[ProcessParams]):
    name = "orphan_processes"
    summary = "persistent processes started and never stopped"
    params_model = ProcessParams
    requirements = (
        Requirement(("fleet.process.state", "gen_ai.tool.call.arguments"), "processes started"),
    )
    default_window_seconds = 120
    default_slide_seconds = 5
    default_threshold = 1.0

    def candidates(self, ctx: EvalContext) -> list[Candidate]:
        open_processes: dict[str, Any] = ctx.baseline.get("open", {})
        cursor = int(ctx.baseline.get("cursor", ctx.window.start_ns))
        if ctx.window.end_ns > cursor:
            self._update(ctx, open_processes, cursor)
        return [c for c in (self._judge(ctx, k, v) for k, v in open_processes.items()) if c]

    def _update(self, ctx: EvalContext, open_processes: dict[str, Any], cursor: int) -> None:
        since = max(cursor, ctx.window.start_ns)
        instructors = ctx.frame(INSTRUCTORS_SQL, since=since)
        acts = ctx.frame(NEW_ACTS_SQL, since=since).join(instructors, on="trace", how="left")
        acts = acts.with_columns(pl.col("instructor").fill_null(""))
        directory = ctx.directory()
        patterns = self.policy.patterns.persistent_process
        for act in acts.iter_rows(named=True):
            key = _process_key(act, patterns)
            if key is None:
                continue
            if act["process_state"] == "stopped":
                open_processes.pop(key, None)
            elif key not in open_processes and act["process_state"] != "stopped":
                instructor = str(act["instructor"])
                trusted = not instructor or directory.may_instruct(str(act["agent"]), instructor)
                open_processes[key] = {
                    "agent": act["agent"], "started": act["ts"], "trace": act["trace"],
                    "span": act["span"], "by": instructor, "trusted": trusted,
                    "label": act["process"] or key,
                }
        while len(open_processes) > MAX_OPEN:
            open_processes.pop(min(open_processes, key=lambda k: open_processes[k]["started"]))
        ctx.baseline.put("open", open_processes)
        ctx.baseline.put("cursor", ctx.window.end_ns)

    def _judge(self, ctx: EvalContext, key: str, process: dict[str, Any]) -> Candidate | None:
        p = self.params
        limit = p.orphan_after_seconds if process["trusted"] else p.untrusted_orphan_after_seconds
        age = (ctx.window.end_ns - int(process["started"])) / SECOND_NS
        if age < limit:
            return None
        agent, by = str(process["agent"]), str(process["by"])
        who = f" on the instruction of {by}" if by else ""
        return Candidate(
            key=f"process:{key}", score=age / limit,
            title=f"{agent}: process {process['label']} never stopped",
            explanation=f"{agent} started {process['label']}{who} {age / 60:.0f} minutes ago and "
            "nothing has stopped it.",
            agents=(agent,), principals=(by,) if by else (),
            evidence=(Evidence(str(process["trace"]), str(process["span"])),),
            first_event_ns=int(process["started"]),
        )


def _process_key(act: dict[str, Any], patterns: tuple[str, ...]) -> str | None:
    if act["process"]:
        return f"{act['agent']}:{act['process']}"
    if act["arguments"] and any_match(patterns, str(act["arguments"])):
        digest = hashlib.sha256(str(act["arguments"]).encode()).hexdigest()[:12]
        return f"{act['agent']}:args-{digest}"
    return None
