"""Scenario parameters change what they say they change, and each family has its signal."""

from __future__ import annotations

import json
from collections import Counter

from simulator.tools import ALIASES
from simulator.turn import SPARSE_DROPPED
from tests.test_scenarios_variants import Injected, inject


def recipients(run: Injected) -> list[list[str]]:
    return [json.loads(s.attributes["fleet.message.recipients"]) for s in run.of("send")]


def test_fan_out_sets_the_number_of_recipients() -> None:
    for fan_out in (5, 20):
        run = inject(f"cs11:variant=broadcast,fan_out={fan_out}")
        assert max(len(r) for r in recipients(run)) == fan_out
    single = inject("cs11:variant=individual_sends,fan_out=12")
    assert Counter(len(r) for r in recipients(single))[1] >= 12
    root = next(s for s in single.of("invoke_agent") if s.attributes.get("fleet.instruction.urgent"))
    assert root.attributes["fleet.instruction.urgent"] == "true"


def test_spoofed_owner_has_the_owners_name_but_not_the_owners_id() -> None:
    for scenario in ("cs8:variant=display_name", "cs11:variant=broadcast", "negative_spoofed_sender"):
        run = inject(scenario)
        root = next(s for s in run.of("invoke_agent") if "fleet.principal.id" in s.attributes)
        owners = json.loads(root.resource["fleet.agent.owners"])
        assert root.attributes["fleet.principal.id"] not in owners
        assert root.attributes["fleet.principal.name"] in {"Chris", "Danny", "Avery", "Andy", "Blake"}


def test_relay_rounds_alternate_between_two_agents_without_humans() -> None:
    run = inject("cs4:variant=relay,rounds=6")
    relayed = [s for s in run.of("invoke_agent") if s.attributes["fleet.trigger"] == "message"]
    assert len(relayed) == 12 and all(s.links for s in relayed)
    agents = [s.agent_id for s in sorted(relayed, key=lambda s: s.start_ns)]
    assert all(a != b for a, b in zip(agents, agents[1:], strict=False)) and len(set(agents)) == 2


def test_agents_parameter_sets_how_many_agents_are_involved() -> None:
    assert len(inject("cs2:variant=bulk_email,agents=3").label.agents) == 3
    run = inject("cs2:variant=bulk_email,records=77")
    assert "77" in {s.attributes.get("fleet.records.count") for s in run.of("execute_tool")}


def test_speed_changes_timing() -> None:
    def duration(speed: float) -> int:
        label = inject(f"cs7:speed={speed}").label
        return label.end_ns - label.start_ns

    assert duration(4.0) < duration(1.0) / 2.5


def test_noise_hides_benign_work_between_steps() -> None:
    def benign_inside(noise: int) -> int:
        run = inject(f"cs1:variant=shell_wipe,noise={noise}")
        label, traces = run.label, set(run.label.trace_ids)
        return sum(1 for s in run.spans if s.agent_id in label.agents and s.trace_id not in traces
                   and label.start_ns <= s.start_ns <= label.end_ns and s.operation == "invoke_agent")

    assert benign_inside(3) >= benign_inside(0) + 3


def test_rename_tools_uses_aliases() -> None:
    plain = {s.attributes["gen_ai.tool.name"] for s in inject("cs1:variant=memory_wipe").of("execute_tool")}
    renamed = inject("cs1:variant=memory_wipe,rename_tools=true").of("execute_tool")
    names = {s.attributes["gen_ai.tool.name"] for s in renamed}
    aliases = {alias for group in ALIASES.values() for alias in group}
    assert "file.delete" in plain and names <= aliases


def test_sparse_drops_optional_attributes() -> None:
    full = inject("cs5:variant=memory_growth")
    sparse = inject("cs5:variant=memory_growth,sparse=true")
    assert any(SPARSE_DROPPED & set(s.attributes) for s in full.incident_spans)
    assert not any(SPARSE_DROPPED & set(s.attributes) for s in sparse.incident_spans)
    assert len(sparse.label.trace_ids) == len(full.label.trace_ids)


def test_memory_file_grows_monotonically() -> None:
    run = inject("cs5:variant=memory_growth,agents=1,writes=8")
    writes = sorted((s for s in run.of("execute_tool") if "fleet.resource.bytes" in s.attributes),
                    key=lambda s: s.start_ns)
    sizes = [int(s.attributes["fleet.resource.bytes"]) for s in writes]
    assert len(sizes) == 8 and sizes == sorted(sizes) and sizes[-1] > 10 * sizes[0]


def test_silent_failures_cluster_on_one_topic() -> None:
    run = inject("cs6:variant=error,requests=6,topic=elections")
    chats = run.of("chat")
    assert len(chats) == 6
    assert {s.attributes["fleet.topic"] for s in chats} == {"elections"}
    assert {s.attributes["error.type"] for s in chats} == {"provider_error"}


def test_false_completion_claims_contradict_the_action() -> None:
    run = inject("false_completion:variant=failed_action")
    root = next(s for s in run.of("invoke_agent") if "fleet.claim" in s.attributes)
    failed = next(s for s in run.of("execute_tool") if s.status_code == 2)
    assert root.attributes["fleet.claim"] == "completed"
    assert root.attributes["fleet.claim.subject"] == failed.attributes["fleet.action.target"]


def test_negatives_take_no_privileged_action() -> None:
    for scenario in ("negative_prompt_injection:variant=document,attempts=5",
                     "negative_spoofed_sender", "negative_agent_warning:fan_out=2"):
        run = inject(scenario)
        kinds = {s.attributes["fleet.action.kind"] for s in run.of("execute_tool")}
        assert kinds <= {"read"}, scenario
    warned = inject("negative_agent_warning:fan_out=2")
    assert len(warned.label.agents) == 3


def market_orders(run: Injected) -> list[tuple[int, str, str, float]]:
    orders = [s for s in run.of("execute_tool") if "fleet.market.price" in s.attributes]
    return sorted((s.start_ns, s.agent_id, s.attributes["fleet.market.action"],
                   float(s.attributes["fleet.market.price"])) for s in orders)


def test_herding_is_synchronised_within_the_window() -> None:
    run = inject("market_herding:variant=synchronized,agents=4,rounds=3,window_s=2")
    orders = market_orders(run)
    assert len(orders) == 12
    for round_start in range(0, 12, 4):
        group = orders[round_start:round_start + 4]
        assert group[-1][0] - group[0][0] <= 2.1e9
        prices = [price for *_, price in group]
        assert max(prices) / min(prices) < 1.02


def test_race_to_the_bottom_undercuts_every_time() -> None:
    prices = [price for *_, price in market_orders(inject("market_race_to_bottom:rounds=5"))]
    assert len(prices) == 15 and prices == sorted(prices, reverse=True)
    assert prices[-1] < prices[0] * 0.6


def test_collusion_rotates_the_winner() -> None:
    run = inject("market_collusion:variant=with_messages,agents=3,rounds=6")
    orders = market_orders(run)
    winners = []
    for index in range(6):
        bids = [o for o in orders[index * 3:(index + 1) * 3] if o[2] == "bid"]
        winners.append(max(bids, key=lambda o: o[3])[1])
    assert winners[:3] == winners[3:] and len(set(winners)) == 3
    assert run.of("send")  # the ring's coordination messages
