"""CPU per span of each stage of the embedded write path, in one process (no HTTP, no clients).

    python bench/ingest_stages.py [--requests 50] [--spans-per-request 200] [--repeats 6]

Stages, each timed with process CPU time (all threads, so ClickHouse's own threads count) and the
best of ``--repeats`` kept, since other work on a shared machine only ever adds time:

- python: what the receiver does per request before the insert (decode, validate, drop unknown
  fields, build the envelope);
- parse: ClickHouse parsing the envelopes (insert into ``otlp_ingest_check``, nothing behind it);
- store: the real insert (parse, the view's flattening, the MergeTree write, the trace-id view).

The requests are the ingest benchmark's (bench/payloads.py: real SDK spans, 13 attributes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.payloads import RequestFactory  # noqa: E402
from collector.decode import decode_protobuf, drop_unknown_fields  # noqa: E402
from collector.envelope import block, envelope, format_settings  # noqa: E402
from collector.migrations import migrate  # noqa: E402
from collector.unparsable import CHECK_TABLE  # noqa: E402
from collector.validate import drop_invalid_spans  # noqa: E402
from collector.writer import insert_envelopes  # noqa: E402
from fleetwatch.clickhouse import connect  # noqa: E402
from fleetwatch.config import Settings  # noqa: E402


def best_cpu_us_per_span(work: Callable[[], object], spans: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        work()
        best = min(best, time.process_time() - began)
    return round(best / spans * 1e6, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--spans-per-request", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    factory = RequestFactory(args.spans_per_request)
    bodies = [factory.next()[1] for _ in range(args.requests)]
    spans = args.requests * args.spans_per_request
    with tempfile.TemporaryDirectory() as scratch:
        client = connect(Settings(clickhouse_url=f"chdb://{scratch}", clickhouse_database="bench"))
        migrate(client)
        envelopes = [envelope(body, "bench") for body in bodies]
        data = block(envelopes)

        def python_side() -> None:
            for body in bodies:
                request = decode_protobuf(body)
                drop_invalid_spans(request, 1 << 20, len(body))
                drop_unknown_fields(request)
                envelope(body, "bench")

        figures = {
            "python": best_cpu_us_per_span(python_side, spans, args.repeats),
            "parse": best_cpu_us_per_span(
                lambda: client.raw_insert(CHECK_TABLE, None, data, settings=format_settings(client), fmt="Protobuf"),
                spans, args.repeats),
            "store": best_cpu_us_per_span(lambda: insert_envelopes(client, envelopes, spans), spans, args.repeats),
        }
    print(json.dumps({"spans_per_batch": spans, "cpu_us_per_span": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
