"""Named ClickHouse types that migrations share, spelled once (ClickHouse has no named types).

A migration writes ``${name}`` and the runner expands it. Released migrations depend on these
texts, so a name is never redefined: a changed type is a new name (``_v2``) in a new migration.
"""

from __future__ import annotations

import re
from typing import Final

# One OTLP AnyValue below the top level: scalars only (which field was set is `kind`, read with
# input_format_protobuf_oneof_presence, so 0 and false are told apart from "unset").
_SCALAR_FIELDS: Final = (
    "kind Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, "
    "'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), "
    "string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String"
)
_SCALAR: Final = f"Tuple({_SCALAR_FIELDS})"
# A top-level AnyValue: a scalar, or an array / key-value list of scalars.
_ANY_VALUE: Final = (
    f"Tuple({_SCALAR_FIELDS}, array_value Tuple(values Array({_SCALAR})), "
    f"kvlist_value Tuple(values Array(Tuple(key String, value {_SCALAR}))))"
)

TYPE_MACROS: Final[dict[str, str]] = {
    "otlp_attributes_v1": f"Array(Tuple(key String, value {_ANY_VALUE}))",
}

_MACRO = re.compile(r"\$\{([a-z0-9_]+)\}")


def expand_types(sql: str) -> str:
    """Replace each ``${name}`` with its type; an unknown name is an error, never left in."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in TYPE_MACROS:
            raise ValueError(f"unknown type macro ${{{name}}} in a migration")
        return TYPE_MACROS[name]

    return _MACRO.sub(replace, sql)
