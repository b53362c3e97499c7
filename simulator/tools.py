"""Tool names: the canonical ones the benign fleet uses and the renames scenarios hide behind.

A detector that keys on ``email.delete`` alone misses an agent whose framework calls the same
action ``imap.expunge``; scenarios with ``rename_tools`` pick one of these aliases.
"""

from __future__ import annotations

import random

ALIASES: dict[str, tuple[str, ...]] = {
    "shell": ("bash", "terminal.exec", "sh.run"),
    "email.delete": ("mail.remove", "imap.expunge"),
    "email.reset_account": ("mail.account.reset", "mailbox.wipe"),
    "email.list": ("mail.search", "imap.list"),
    "email.read": ("mail.get", "imap.fetch"),
    "email.send": ("mail.send", "smtp.send"),
    "file.read": ("fs.read", "read_file"),
    "file.write": ("fs.write", "write_file"),
    "file.delete": ("fs.remove", "rm"),
    "http.get": ("web.fetch", "browser.open"),
    "discord.kick": ("guild.remove_member", "mod.kick"),
    "git.push": ("vcs.push", "github.push"),
    "cron.create": ("scheduler.add", "crontab.edit"),
    "social.post": ("moltbook.post", "feed.publish"),
    "market.place_order": ("exchange.submit", "trade.order"),
    "file.transfer": ("scp", "share.upload"),
}


def tool_name(canonical: str, renamed: bool, rng: random.Random) -> str:
    """``canonical`` itself, or one of its aliases when ``renamed``."""
    aliases = ALIASES.get(canonical, ())
    if not renamed or not aliases:
        return canonical
    return rng.choice(aliases)
