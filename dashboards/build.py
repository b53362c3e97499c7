"""Regenerate (or, with --check, verify) dashboards/generated and dashboards/provisioning.

python -m dashboards.build [--check]      (also: fleetwatch dashboards build [--check])
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dashboards import catalog, provisioning

PACKAGE_DIR = Path(__file__).resolve().parent


def expected_files(root: Path = PACKAGE_DIR) -> dict[Path, str]:
    """Every generated file, path -> exact content."""
    files = {
        root / "generated" / f"{model['uid']}.json": catalog.render(model)
        for model in catalog.dashboard_models()
    }
    files[root / "provisioning" / "datasources" / "fleetwatch.yaml"] = provisioning.render(
        provisioning.datasource_file()
    )
    files[root / "provisioning" / "dashboards" / "fleetwatch.yaml"] = provisioning.render(
        provisioning.dashboards_file()
    )
    return files


def stale_files(root: Path = PACKAGE_DIR) -> list[Path]:
    """Generated files that are missing, differ, or are left over from removed dashboards."""
    expected = expected_files(root)
    stale = [path for path, text in expected.items() if _read(path) != text]
    leftovers = set((root / "generated").glob("*.json")) - set(expected)
    return sorted([*stale, *leftovers])


def write_files(root: Path = PACKAGE_DIR) -> list[Path]:
    """Write what changed and delete leftovers; return the paths touched."""
    expected = expected_files(root)
    touched = stale_files(root)
    for path in touched:
        if path in expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected[path], encoding="utf-8")
        else:
            path.unlink()
    return touched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if any file is out of date")
    args = parser.parse_args(argv)
    return run(check=args.check)


def run(*, check: bool) -> int:
    if check:
        stale = stale_files()
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        if stale:
            print("run: fleetwatch dashboards build", file=sys.stderr)
        return 1 if stale else 0
    for path in write_files():
        print(f"wrote {path}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
