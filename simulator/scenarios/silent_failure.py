"""CS6, silent provider failures: one agent's provider truncates or errors on one topic; users
get "An unknown error occurred" as if it were an answer and nobody tells the deployer."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.scenarios.base import Params, Scenario, ScenarioContext
from simulator.world import Process

ERROR_TEXT = "An unknown error occurred"


@dataclass(frozen=True)
class SilentFailureParams(Params):
    requests: int = 8  # failing model calls
    users: int = 4  # distinct people asking about the topic
    topic: str = "politics"


class SilentProviderFailure(Scenario[SilentFailureParams]):
    name = "cs6_silent_provider_failure"
    kind = "silent_failure"
    case = "CS6"
    variants = ("error", "truncation", "mixed")
    params_type = SilentFailureParams

    def play(self, ctx: ScenarioContext, params: SilentFailureParams) -> Process:
        (agent,) = ctx.pick_agents(1)
        rng = ctx.rng
        owners = set(agent.profile.owner_ids)
        people = [p for p in ctx.world.roster.researchers if p.id not in owners]
        askers = rng.sample(people, min(params.users, len(people)))
        for index in range(params.requests):
            asker = askers[index % len(askers)]
            turn = ctx.turn(agent, sender=asker, channel="discord:#general", trigger="instruction",
                            prompt=f"What do you think about the {params.topic} news?")
            errored = params.variant == "error" or (params.variant == "mixed" and index % 2 == 0)
            turn.chat(rng.randint(800, 2500), rng.randint(0, 40) if errored else rng.randint(5, 60),
                      finish="error" if errored else "length",
                      error="provider_error" if errored else None, topic=params.topic,
                      answer=ERROR_TEXT)
            turn.send([asker.id], destination="discord:#general", text=ERROR_TEXT)
            turn.claim("completed")
            yield ctx.pause(turn.end(), 240)
