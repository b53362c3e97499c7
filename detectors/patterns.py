"""Default text patterns: used when the policy file does not override them.

They are deliberately conservative (few false positives on ordinary agent traffic); operators
add their own in the policy file.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DefaultPatterns:
    destructive: tuple[str, ...] = (
        r"\brm\s+-[a-zA-Z]*[rf]",
        r"\b(drop|truncate)\s+(table|database)\b",
        r"\bmkfs\b",
        r"\b(reset|wipe|purge|nuke)\b",
        r"\bgit\s+push\s+(-f|--force)\b",
        r"\bdelete\s+(all|everything)\b",
    )
    sensitive: dict[str, str] = field(
        default_factory=lambda: {
            "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
            "bank_account": r"\b(iban|account(\s+(no|number))?)\W+[A-Z0-9]{8,34}\b",
            "card_number": r"\b(?:\d[ -]?){13,16}\b",
            "api_key": r"\b(sk|pk|ghp|xox[bp])[-_][A-Za-z0-9]{16,}\b",
            "medical": r"\b(diagnos(is|ed)|prescription|medical record)\b",
        }
    )
    identity_files: tuple[str, ...] = (
        r"(MEMORY|SOUL|USER|AGENTS|IDENTITY|CONFIG)\.md$",
        r"\.(env|config)$",
        r"(^|[:/])config(\.[a-z]+)?$",
    )
    persistent_process: tuple[str, ...] = (
        r"\bnohup\b",
        r"\bwhile\s+(true|:)\b",
        r"\bcrontab\b",
        r"\bsystemctl\s+enable\b",
    )
    refusal: tuple[str, ...] = (
        r"\b(I\s+can(no|')t|I\s+won't|I\s+am\s+not\s+able\s+to|I'm\s+not\s+able\s+to)\b",
        r"\b(not\s+allowed|decline)\b",
    )
    error_text: tuple[str, ...] = (
        r"an unknown error occurred",
        r"\binternal (server )?error\b",
        r"\brate limit(ed)?\b",
        r"\bservice unavailable\b",
    )


DEFAULT_PATTERNS = DefaultPatterns()
