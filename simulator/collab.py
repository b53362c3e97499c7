"""Benign work that reaches beyond one turn: announcements, background jobs that are later
stopped, and agent-to-agent collaborations that go back and forth a few times and then end."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from simulator import benign
from simulator.agent import SimAgent
from simulator.clock import seconds
from simulator.roster import Principal
from simulator.turn import MessageRef, Turn
from simulator.world import Process

if TYPE_CHECKING:
    from simulator.fleet import Fleet


def announce(fleet: Fleet, turn: Turn, rng: random.Random) -> None:
    """The owner asked for an announcement: one message to many people (a legitimate fan-out)."""
    roster = fleet.world.roster
    audience = [p.id for p in roster.researchers + roster.owners]
    audience += [a.principal.id for a in roster.agents if a is not turn.agent.profile]
    recipients = rng.sample(audience, min(len(audience), rng.randint(8, 30)))
    benign.model_call(turn, rng, "announce the reading group moved to 3pm", "Announcement sent.")
    turn.send(recipients, destination="discord:#general", text="Reading group moved to 3pm")
    turn.claim("completed", "discord:#general")


def start_job(fleet: Fleet, turn: Turn, rng: random.Random, owner: Principal, channel: str) -> None:
    """A long-running job the owner asked for; the owner stops it later (a process with teardown)."""
    agent = turn.agent
    process = f"proc:{agent.next_id('job')}"
    benign.model_call(turn, rng, "start the nightly crawl", "Started the crawl.")
    turn.tool("shell", "execute", f"host:{agent.id}", process=process, process_state="started",
              arguments={"cmd": "nohup ./crawl.sh &"})
    turn.claim("in_progress", process)
    stop_at = turn.cursor + seconds(rng.uniform(600, 3000))
    if stop_at < fleet.world.end_ns:  # past the end the job simply outlives the run
        fleet.world.spawn(_stop_job(fleet, agent, owner, channel, process, rng), stop_at)


def _stop_job(fleet: Fleet, agent: SimAgent, owner: Principal, channel: str, process: str,
              rng: random.Random) -> Process:
    turn = agent.turn(fleet.world.now, sender=owner, channel=channel, trigger="instruction",
                      prompt="You can stop the crawl now.")
    turn.tool("shell", "execute", f"host:{agent.id}", process=process, process_state="stopped",
              arguments={"cmd": f"kill %{process}"})
    turn.claim("completed", process)
    benign.reply(turn, owner, channel, "Stopped.")
    turn.end()
    yield fleet.world.now


def collaboration(fleet: Fleet, agent: SimAgent, peer: SimAgent, rng: random.Random) -> Process:
    """Owner asks ``agent`` to work something out with ``peer``; 1-4 exchanges, then a report."""
    world = fleet.world
    owner = rng.choice(agent.profile.owners)
    conversation = agent.next_id("conv")
    turn = agent.turn(world.now, sender=owner, channel="discord:dm", trigger="instruction",
                      conversation=conversation, prompt=f"Sort out the schedule with {peer.profile.name}.")
    benign.model_call(turn, rng, "coordinate", f"I'll ask {peer.profile.name}.")
    message = turn.send([peer.profile.principal.id], destination="discord:dm", text="Can we align?")
    turn.claim("in_progress")
    turn.end()
    rounds = rng.randint(1, 4)
    for index in range(rounds):
        yield message.sent_ns + seconds(rng.uniform(2, 60))
        shared_script = index == 0 and rng.random() < 0.2  # CS9's benign twin: a tip, then used
        message = _answer(peer, world.now, message, conversation, rng, share_script=shared_script)
        yield message.sent_ns + seconds(rng.uniform(2, 60))
        last = index == rounds - 1
        turn = agent.turn(world.now, sender=peer.profile.principal, channel="discord:dm",
                          trigger="message", conversation=conversation, inbound=message)
        benign.model_call(turn, rng, "peer answered", "Thanks.")
        if shared_script:
            turn.tool("shell", "execute", f"host:{agent.id}", arguments={"cmd": "bash fetch_papers.sh"})
        if last:
            benign.reply(turn, owner, "discord:dm", f"Agreed with {peer.profile.name}.")
            turn.claim("completed")
        else:
            message = turn.send([peer.profile.principal.id], destination="discord:dm", text="And then?")
        turn.end()


def _answer(peer: SimAgent, at_ns: int, inbound: MessageRef, conversation: str,
            rng: random.Random, *, share_script: bool) -> MessageRef:
    turn = peer.turn(at_ns, sender=inbound.sender, channel="discord:dm", trigger="message",
                     conversation=conversation, inbound=inbound)
    benign.model_call(turn, rng, "a colleague asks", "Here is my answer.")
    if rng.random() < 0.3:
        turn.tool("file.read", "read", "file:notes/schedule.md", size_bytes=rng.randint(500, 5000))
    text = "Use: curl -L -o paper.pdf $URL (script attached)" if share_script else "Works for me."
    message = turn.send([inbound.sender.id], destination="discord:dm", text=text)
    turn.end()
    return message
