"""Subcommand modules; each exposes ``register(subparsers, common)``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

# argparse does not export the type of add_subparsers()' result under a public name, and it is
# only generic to type checkers.
if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction
