"""Render docs/configuration.md from the Settings model, so the two cannot drift.

Regenerate with ``python -m fleetwatch.config_doc > docs/configuration.md``; a test fails when
the committed file is stale.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from fleetwatch.config import Settings

_INTRO = """# Configuration

fleetwatch builds one typed settings object at start-up (`fleetwatch/config.py`). Each setting
comes from, in order of precedence: a command-line flag (the common flags below), an environment
variable `FLEETWATCH_<NAME>`, or its default. Secrets (passwords, tokens) are held as secret
strings and printed masked; prefer `*_FILE` settings or environment variables from a secret
store over flags. Unknown `FLEETWATCH_*` names are rejected at start-up.

Common flags on every subcommand: `--clickhouse-url`, `--clickhouse-database`,
`--kafka-bootstrap`, `--http-host`, `--http-port`, `--grpc-port`, `--admin-port`, `--data-dir`,
`--policy-file`, `--log-level`.

Related pages: docs/webhooks.md (webhook_*), docs/dashboards.md (grafana_*), docs/detectors.md
(detector_*), docs/deploy.md (production values).

| environment variable | default | meaning |
|---|---|---|
"""


def render_markdown() -> str:
    rows = [_row(name, field) for name, field in Settings.model_fields.items()]
    return _INTRO + "\n".join(rows) + "\n"


def _row(name: str, field: FieldInfo) -> str:
    default = field.default
    if isinstance(default, SecretStr):
        shown = "(empty secret)"
    elif default is None or default == "":
        shown = "(unset)"
    else:
        shown = f"`{default}`"
    meaning = (field.description or "See the related page.").replace("|", "\\|")
    return f"| `FLEETWATCH_{name.upper()}` | {shown} | {meaning} |"


if __name__ == "__main__":
    print(render_markdown(), end="")
