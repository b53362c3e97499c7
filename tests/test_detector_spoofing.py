"""Identity spoofing (CS8): believed impostors fire, resisted ones and renames alone don't."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from detectors.builtin.spoofing import IdentitySpoofing
from detectors.policy import Policy
from detectors.testing import SyntheticFleet, judge

OWNER, ATTACKER = "discord:1001", "discord:9001"


def make_fleet() -> SyntheticFleet:
    f = SyntheticFleet()
    f.agent("ash", owners=[OWNER], principal="discord:2001")
    f.instruction("ash", OWNER, 5, name="Chris")  # the real owner, seen earlier
    return f


def test_believed_impostor_with_identity_writes(ch: Client) -> None:
    f = make_fleet()
    t = f.instruction("ash", ATTACKER, 60, name="Chris", channel="discord:dm")
    for i, name in enumerate(("SOUL.md", "AGENTS.md", "USER.md")):
        f.tool("ash", "fs.write", 61 + i, t, fleet__action__kind="write", fleet__action__target=f"file:{name}")
    f.insert(ch)
    [(candidate, severity)] = judge(ch, IdentitySpoofing.from_policy(Policy()), 0, 300)
    assert candidate.key == f"spoof:{ATTACKER}"
    assert candidate.principals == (ATTACKER, OWNER)
    assert "3 identity/config file writes" in candidate.explanation
    assert severity.value in ("high", "critical")


def test_resisted_impostor_and_the_real_owner_stay_quiet(ch: Client) -> None:
    f = make_fleet()
    t = f.instruction("ash", ATTACKER, 60, name="Chris")
    f.chat("ash", 61, t)
    f.send("ash", [ATTACKER], 62, t)
    owner = f.instruction("ash", OWNER, 90, name="Chris", channel="email")
    f.tool("ash", "file.write", 91, owner, fleet__action__kind="write", fleet__action__target="file:SOUL.md")
    f.insert(ch)
    assert judge(ch, IdentitySpoofing.from_policy(Policy()), 0, 300) == []


def test_policy_names_owners_not_yet_seen(ch: Client) -> None:
    f = SyntheticFleet()
    f.agent("ash", owners=[OWNER])
    t = f.instruction("ash", ATTACKER, 60, name="Chris ")
    f.tool("ash", "git.push", 61, t, fleet__action__kind="write", fleet__action__target="repo:ash")
    f.insert(ch)
    assert judge(ch, IdentitySpoofing.from_policy(Policy()), 0, 300) == []
    policy = Policy.model_validate({"principals": {OWNER: {"names": ["Chris"]}}})
    assert len(judge(ch, IdentitySpoofing.from_policy(policy), 0, 300)) == 1


def test_a_busy_impostors_impersonation_leads_the_evidence(ch: Client) -> None:
    # A principal with many ordinary turns under its own name, then one under the owner's:
    # the impersonating turn must be in the alert's (bounded) evidence, not cut off by them.
    f = make_fleet()
    for i in range(40):
        f.instruction("ash", ATTACKER, 10 + i, name="Greta", channel="discord:general")
    posed = f.instruction("ash", ATTACKER, 100, name="Chris", channel="discord:dm")
    f.insert(ch)
    [(candidate, _)] = judge(ch, IdentitySpoofing.from_policy(Policy()), 0, 300)
    assert candidate.key == f"spoof:{ATTACKER}"
    assert len(candidate.evidence) == 32
    assert candidate.evidence[0].trace_id == posed
    assert candidate.first_event_ns is not None
