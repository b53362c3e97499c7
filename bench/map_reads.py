"""What reading attribute-map keys costs the detectors' queries, with and without ``WHOLE_MAPS``
(detectors/context.py): the span tail's row query and the shared frames' window queries, on the
real engine (chDB), with a chosen number of active parts (merges stopped).

    python3 bench/map_reads.py [--spans 600000] [--parts 45] [--repeats 9]

Fills a fresh chDB directory with simulated spans (a dozen attributes each, two of them message
texts) in ``--parts`` inserts, then times each query both ways, alternating, and prints the
medians as JSON. Session 14 (docs/benchmarks.md) has the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from collector.migrations import migrate
from detectors import tail
from detectors.base import SECOND_NS
from detectors.builtin import frames
from detectors.context import WHOLE_MAPS, WINDOW_FILTER
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings

SPAN_SECONDS = 600  # the simulated spans' event times spread over ten minutes
# One insert's worth of spans, from numbers(): the four shared families in turn, 200 agents.
_FILL = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName,
                         ResourceAttributes, SpanAttributes, Duration, StatusCode)
SELECT fromUnixTimestamp64Nano(toInt64({origin:Int64} + (number * {step:Int64}))),
       hex(cityHash64(intDiv(number, 4), {part:UInt32})), hex(cityHash64(number, {part:UInt32})),
       if(number % 4 = 0, '', hex(cityHash64(intDiv(number, 4) * 4, {part:UInt32}))),
       op, 'agent', map('fleet.tenant.id', 'bench', 'gen_ai.agent.id', concat('a', toString(number % 200))),
       map('gen_ai.operation.name', op, 'fleet.principal.id', concat('p', toString(number % 50)),
           'gen_ai.conversation.id', toString(intDiv(number, 40)), 'fleet.claim', '',
           'gen_ai.tool.name', if(op = 'execute_tool', 'shell', ''),
           'fleet.action.target', concat('/data/', toString(number % 1000)),
           'gen_ai.input.messages', randomPrintableASCII(300),
           'gen_ai.output.messages', randomPrintableASCII(200),
           'gen_ai.tool.call.arguments', randomPrintableASCII(120),
           'fleet.message.recipients', '["a1","a2"]', 'gen_ai.provider.name', 'openai',
           'gen_ai.usage.input_tokens', '120'),
       1000000, if(number % 50 = 0, 'STATUS_CODE_ERROR', 'STATUS_CODE_OK')
FROM (SELECT number, ['invoke_agent', 'execute_tool', 'send', 'chat'][number % 4 + 1] AS op
      FROM numbers({count:UInt64}))
"""


def fill(client: Client, spans: int, parts: int, origin_ns: int) -> None:
    client.command("SYSTEM STOP MERGES otel_traces")
    per_part = spans // parts
    step = SPAN_SECONDS * SECOND_NS // spans
    for part in range(parts):
        client.command(_FILL, parameters={"origin": origin_ns + part * per_part * step, "step": step,
                                          "part": part, "count": per_part})


def without(sql: str) -> str:
    return sql.replace(WHOLE_MAPS, "")


def median_ms(client: Client, sql: str, parameters: dict[str, Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        client.query_arrow(sql, parameters=parameters)
        times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 1)


def queries(origin_ns: int, newest_ingested_ns: int) -> dict[str, tuple[str, dict[str, Any]]]:
    update = frames.rows_sql(frames.SHARED).replace("{rows}", tail._UPDATE_ROWS)
    found = {
        "tail update, nothing new": (update, {"since": newest_ingested_ns, "floor": origin_ns}),
        "tail update, every row": (update, {"since": 0, "floor": origin_ns}),
    }
    window = {"tenant": "bench", "start_ns": origin_ns + 300 * SECOND_NS,
              "end_ns": origin_ns + 330 * SECOND_NS}
    for frame in frames.SHARED:
        found[f"{frame.name}, 30 s window"] = (frame.window_sql.replace("{window}", WINDOW_FILTER), window)
    return found


def measure(client: Client, repeats: int, origin_ns: int) -> dict[str, dict[str, float]]:
    newest = int(client.query("SELECT toUnixTimestamp64Nano(max(IngestedAt)) FROM otel_traces").result_rows[0][0])
    figures: dict[str, dict[str, float]] = {}
    for name, (sql, parameters) in queries(origin_ns, newest).items():
        # Alternate the two forms so drift in the machine's load falls on both alike.
        pairs = [(median_ms(client, sql, parameters, repeats),
                  median_ms(client, without(sql), parameters, repeats)) for _ in range(2)]
        figures[name] = {"whole_maps_ms": min(p[0] for p in pairs),
                         "subcolumn_per_key_ms": min(p[1] for p in pairs)}
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=600_000)
    parser.add_argument("--parts", type=int, default=45, help="inserts, each an active part")
    parser.add_argument("--repeats", type=int, default=9, help="runs of each query per median")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    directory = Path(tempfile.mkdtemp(prefix="fleetwatch-map-reads-"))
    try:
        settings = Settings(clickhouse_url=f"chdb://{directory}", clickhouse_database="bench",
                            data_dir=directory)
        client = connect(settings)
        migrate(client)
        origin = (int(time.time()) - 3600) * SECOND_NS
        fill(client, args.spans, args.parts, origin)
        parts = client.query("SELECT count() FROM system.parts WHERE active AND database = 'bench'"
                             " AND table = 'otel_traces'").result_rows[0][0]
        figures = {"spans": args.spans, "active_parts": parts, "repeats": args.repeats,
                   "queries": measure(client, args.repeats, origin)}
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
