"""The simulator's core: determinism, simulated time, conventions on every span, a rich benign
background. Runs the real OpenTelemetry SDK and encoder; spans are captured as encoded OTLP
requests (MemoryTransport) and decoded back."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from simulator.clock import FIXED_EPOCH_NS, NS_PER_SECOND, Pacer, parse_duration, parse_start
from simulator.decode import FlatSpan, decode_requests
from simulator.ids import SeededIdGenerator, derived_rng
from simulator.roster import build_roster
from simulator.run import RunResult, SimulationConfig, run_simulation
from simulator.transport import MemoryTransport

SHORT = SimulationConfig(seed=7, agents=6, market_agents=4, duration_s=1800.0)


def simulate(config: SimulationConfig) -> tuple[RunResult, MemoryTransport]:
    transport = MemoryTransport()
    return run_simulation(config, transport=transport), transport


def spans_of(transport: MemoryTransport) -> list[FlatSpan]:
    return decode_requests(payload for _, payload in transport.batches)


def test_same_seed_gives_byte_identical_requests() -> None:
    first, one = simulate(SHORT)
    second, two = simulate(SHORT)
    assert first.spans > 500
    assert one.batches == two.batches  # ids, timestamps, attributes, batching: all identical
    assert first.incidents == second.incidents


def test_different_seeds_differ() -> None:
    _, one = simulate(SHORT)
    _, two = simulate(SimulationConfig(seed=8, agents=6, market_agents=4, duration_s=1800.0))
    ids_one = {span.trace_id for span in spans_of(one)}
    ids_two = {span.trace_id for span in spans_of(two)}
    assert not ids_one & ids_two


def test_runs_with_the_same_seed_but_another_config_share_no_ids() -> None:
    _, one = simulate(SHORT)
    _, two = simulate(SimulationConfig(seed=7, agents=6, market_agents=4, duration_s=1700.0))
    assert not {s.span_id for s in spans_of(one)} & {s.span_id for s in spans_of(two)}


def test_seeded_id_generator_is_reproducible_and_nonzero() -> None:
    a, b = SeededIdGenerator(5), SeededIdGenerator(5)
    ids = [(a.generate_trace_id(), a.generate_span_id()) for _ in range(100)]
    assert ids == [(b.generate_trace_id(), b.generate_span_id()) for _ in range(100)]
    assert all(trace and span for trace, span in ids)
    assert derived_rng(1, "x").random() != derived_rng(1, "y").random()


def test_timestamps_come_from_the_simulated_clock() -> None:
    result, transport = simulate(SHORT)
    spans = spans_of(transport)
    assert min(s.start_ns for s in spans) >= FIXED_EPOCH_NS
    # Benign work stops at the end; scenario tails may run a little past it.
    assert max(s.start_ns for s in spans) < FIXED_EPOCH_NS + 3 * 1800 * NS_PER_SECOND
    assert all(s.end_ns >= s.start_ns for s in spans)
    assert result.wall_seconds < 30  # half an hour of fleet activity, simulated fast
    offsets = [offset for offset, _ in transport.batches]
    assert offsets == sorted(offsets)


def test_every_span_follows_the_conventions() -> None:
    _, transport = simulate(SHORT)
    spans = spans_of(transport)
    for span in spans:
        assert span.resource["gen_ai.agent.id"].startswith("agent-")
        assert span.resource["gen_ai.agent.name"]
        assert json.loads(span.resource["fleet.agent.owners"])
        assert span.resource["fleet.agent.principal"].startswith("discord:")
    by_op = Counter(span.operation for span in spans)
    assert set(by_op) == {"invoke_agent", "chat", "execute_tool", "send"}
    for span in spans:
        attrs = span.attributes
        if span.operation == "invoke_agent":
            assert span.name.startswith("invoke_agent ") and "fleet.trigger" in attrs
            assert not span.parent_span_id
        elif span.operation == "execute_tool":
            assert span.name == f"execute_tool {attrs['gen_ai.tool.name']}"
            assert attrs["fleet.action.kind"] in {"read", "write", "execute", "send", "delete"}
        elif span.operation == "chat":
            assert {"gen_ai.provider.name", "gen_ai.request.model", "gen_ai.usage.input_tokens",
                    "gen_ai.usage.output_tokens", "gen_ai.response.finish_reasons"} <= set(attrs)
        else:
            assert json.loads(attrs["fleet.message.recipients"])
            assert attrs["messaging.message.id"]


def test_benign_background_is_rich() -> None:
    config = SimulationConfig(seed=3, agents=8, market_agents=6, duration_s=4 * 3600.0, scenarios=())
    result, transport = simulate(config)
    spans = spans_of(transport)
    assert result.incidents == []
    roots = [s for s in spans if s.operation == "invoke_agent"]
    triggers = Counter(s.attributes["fleet.trigger"] for s in roots)
    assert {"instruction", "message", "cron", "heartbeat"} <= set(triggers)
    owners_of = {s.resource["gen_ai.agent.id"]: json.loads(s.resource["fleet.agent.owners"]) for s in spans}
    by_owner = [s for s in roots if s.attributes.get("fleet.principal.id") in owners_of[s.agent_id]]
    by_other = [s for s in roots if "fleet.principal.id" in s.attributes and s not in by_owner]
    assert by_owner and by_other
    tools = [s for s in spans if s.operation == "execute_tool"]
    assert any(s.attributes["fleet.action.kind"] == "delete" for s in tools)  # owners do ask
    assert any(s.status_code == 2 for s in tools)  # tools fail sometimes
    chats = [s for s in spans if s.operation == "chat"]
    assert any("error.type" in s.attributes for s in chats)  # occasional provider errors
    sends = [s for s in spans if s.operation == "send"]
    assert max(len(json.loads(s.attributes["fleet.message.recipients"])) for s in sends) >= 8
    agent_principals = {s.resource["fleet.agent.principal"] for s in spans}
    a2a = [s for s in roots if s.attributes.get("fleet.principal.id") in agent_principals]
    assert a2a and all(s.links for s in a2a)  # agent-to-agent turns link to the send span
    market = [s for s in tools if "fleet.market.price" in s.attributes]
    assert len(market) > 100
    assert any("gen_ai.input.messages" in s.attributes for s in spans)  # opt-in on some agents
    content_agents = {s.agent_id for s in spans if "gen_ai.output.messages" in s.attributes}
    assert 0 < len(content_agents) < len({s.agent_id for s in spans})
    per_agent = Counter(s.agent_id for s in roots if s.agent_id in owners_of and "bidder" not in s.agent_id)
    assert max(per_agent.values()) > 2 * min(per_agent.values())  # busy and idle agents


def test_activity_rate_scales_the_background() -> None:
    quiet, _ = simulate(SimulationConfig(seed=2, agents=4, market_agents=0, duration_s=3600.0,
                                         sessions_per_agent_hour=2.0, scenarios=()))
    busy, _ = simulate(SimulationConfig(seed=2, agents=4, market_agents=0, duration_s=3600.0,
                                        sessions_per_agent_hour=20.0, scenarios=()))
    assert busy.spans > 3 * quiet.spans


def test_summary_counts_agent_hours() -> None:
    result, _ = simulate(SHORT)
    summary = result.summary
    assert summary.agent_hours == pytest.approx(10 * 0.5)
    assert 0 < summary.benign_agent_hours < summary.agent_hours
    assert summary.incidents == len(result.incidents) and summary.spans == result.spans


def test_start_and_duration_parsing() -> None:
    assert parse_start(None, realtime=False) == FIXED_EPOCH_NS
    assert parse_start(None, realtime=True, wall_ns=lambda: 5 * NS_PER_SECOND + 123) == 5 * NS_PER_SECOND
    assert parse_start("2026-03-01T00:00:00", realtime=False) == 1772323200 * NS_PER_SECOND
    assert parse_duration("2h") == 7200 and parse_duration("90") == 90 and parse_duration("15m") == 900
    with pytest.raises(ValueError):
        parse_duration("-1m")


def test_pacer_waits_for_the_wall_clock() -> None:
    now = [0]
    slept: list[float] = []

    def sleep(duration: float) -> None:
        slept.append(duration)
        now[0] += int(duration * NS_PER_SECOND)

    pacer = Pacer(1000 * NS_PER_SECOND, monotonic_ns=lambda: now[0], sleep=sleep)
    pacer.wait_until(1002 * NS_PER_SECOND)
    pacer.wait_until(1001 * NS_PER_SECOND)  # already past: no sleep
    assert slept == [2.0]


@pytest.mark.parametrize(("agents", "market_agents"), [(8, 6), (499, 6), (500, 6), (2000, 0), (2000, 600)])
def test_principal_ids_never_collide_whatever_the_fleet_size(agents: int, market_agents: int) -> None:
    """Each person and agent has one id and one name: a 2,000-agent fleet once gave a researcher
    and an agent the same id, which read as one principal using two names (spoofing alerts)."""
    roster = build_roster(agents, market_agents, derived_rng(7, "roster"))
    names: dict[str, set[str]] = {}
    for person in roster.owners + roster.researchers:
        names.setdefault(person.id, set()).add(person.name)
    for agent in roster.all_agents():
        names.setdefault(agent.principal.id, set()).add(agent.name)
    people = len(roster.owners) + len(roster.researchers) + len(roster.all_agents())
    assert len(names) == people and all(len(n) == 1 for n in names.values())
    if agents < 500:  # lab-sized fleets keep the ids the docs and examples use
        assert (roster.owners[0].id, roster.agents[0].principal.id, roster.researchers[0].id) == (
            "discord:1001", "discord:2001", "discord:3001")
