"""Find the requests in a failed insert that ClickHouse cannot parse.

Python's protobuf decoder is lenient where ClickHouse's Protobuf format is strict (a field with
the wrong wire type is an unknown field to the one and a corrupt message to the other). Checking
every request up front would cost a second parse on the hot path, so the check runs only after
an insert failed with a format error: each envelope is parsed alone into a table with nothing
behind it (migration 0007).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from clickhouse_connect.driver.client import Client

from collector.envelope import block, format_settings

CHECK_TABLE: Final = "otlp_ingest_check"

# ClickHouse error codes that mean "this input is malformed", as opposed to "the server cannot
# take it now": ATTEMPT_TO_READ_AFTER_EOF, CANNOT_READ_ALL_DATA, INCORRECT_DATA, TOO_LARGE_ARRAY_SIZE,
# UNKNOWN_PROTOBUF_FORMAT, PROTOBUF_BAD_CAST, CANNOT_PARSE_PROTOBUF (27 and 117: parse failures).
_FORMAT_ERRORS: Final = frozenset({27, 32, 33, 117, 128, 444, 445, 446})
_CODE = re.compile(r"Code: (\d+)\.")


def is_format_error(error: BaseException) -> bool:
    """True when ClickHouse refused an insert because of its data, not its own state."""
    return any(int(code) in _FORMAT_ERRORS for code in _CODE.findall(str(error)))


def unparsable(client: Client, envelopes: Sequence[bytes]) -> list[int]:
    """Indexes of the envelopes ClickHouse cannot parse; other errors propagate (an outage)."""
    bad = []
    settings = format_settings(client)
    for index, item in enumerate(envelopes):
        try:
            client.raw_insert(CHECK_TABLE, None, block([item]), settings=settings, fmt="Protobuf")
        except Exception as error:
            if not is_format_error(error):
                raise
            bad.append(index)
    return bad
