"""Fleet simulator: SDK-instrumented agents on a simulated clock, labelled incidents.

The public surface (docs/scenarios.md):

- ``run_simulation(SimulationConfig(...), endpoint=... | output=... | transport=...,
  labels_path=...) -> RunResult`` runs a fleet and its injected incidents;
- ``parse_spec("cs11:fan_out=20")`` / ``default_suite(...)`` choose the incidents;
- ``read_labels(path) -> RunLabels`` reads the ground truth a run wrote;
- ``replay(path, endpoint, speed=...)`` sends a pre-encoded file made with ``output=``.
"""

from simulator.labels import IncidentLabel, RunLabels, RunSummary, read_labels
from simulator.replay import ReplayStats, replay
from simulator.run import RunResult, SimulationConfig, run_simulation
from simulator.suite import ScenarioPlan, default_suite, parse_spec

__all__ = [
    "IncidentLabel", "ReplayStats", "RunLabels", "RunResult", "RunSummary", "ScenarioPlan",
    "SimulationConfig", "default_suite", "parse_spec", "read_labels", "replay", "run_simulation",
]
