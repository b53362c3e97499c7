"""The embedded engine's own settings (fleetwatch/clickhouse.py): chDB's merge threads run at the
configured nice value, so background merges yield the cores to ingest and the live lane.

In a subprocess: chDB starts one engine per process, with the options of its first client, and
the test session's engine is already running with the defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CAP_SYS_NICE = 23

# Many small parts, then a merge of all of them, while a thread samples the nice value of every
# running chDB merge thread (``MergeMutate``; ClickHouse sets it while the thread works).
_SCRIPT = """
import json, os, sys, threading
from collections import Counter
from pathlib import Path
from fleetwatch.clickhouse import connect
from fleetwatch.config import Settings

settings = Settings(data_dir=Path(sys.argv[1]), chdb_merge_nice=int(sys.argv[2]))
client = connect(settings)
setting = client.query("SELECT getServerSetting('os_threads_nice_value_merge_mutate')").result_rows[0][0]
seen, done = Counter(), threading.Event()

def sample():
    while not done.is_set():
        for task in os.listdir("/proc/self/task"):
            try:
                name = open(f"/proc/self/task/{task}/comm").read().strip()
                fields = open(f"/proc/self/task/{task}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended meanwhile
            if name == "MergeMutate" and fields[0] == "R":
                seen[int(fields[16])] += 1
        done.wait(0.001)

sampler = threading.Thread(target=sample)
sampler.start()
client.command("CREATE TABLE parts (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
for i in range(40):
    client.command(f"INSERT INTO parts SELECT number, toString(number) FROM numbers({i * 200000}, 200000)")
client.command("OPTIMIZE TABLE parts FINAL")
done.set()
sampler.join()
print(json.dumps({"setting": int(setting), "nice": {str(k): n for k, n in seen.items()}}))
"""


def _may_renice() -> bool:
    """ClickHouse changes a thread's nice value only with CAP_SYS_NICE (else a no-op)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_NICE & 1)
    return False


def _merge_nice(data_dir: Path, nice: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(data_dir), str(nice)],
                          capture_output=True, text=True, timeout=300, check=True)
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("nice", [7, 0])
def test_merges_run_at_the_configured_nice_value(tmp_path: Path, nice: int) -> None:
    found = _merge_nice(tmp_path, nice)
    assert found["setting"] == nice
    if not _may_renice():
        pytest.skip("no CAP_SYS_NICE here: ClickHouse leaves its merge threads' priority alone")
    samples = found["nice"]
    assert isinstance(samples, dict) and sum(samples.values()) > 0
    # ClickHouse sets the value when a merge task starts on the thread, so a sample can catch
    # a thread running just before that; the merges run at the configured value.
    assert samples.get(str(nice), 0) >= 0.8 * sum(samples.values()), samples
