"""After warm_up(), no plan compiles or even loads a kernel; a second process only loads from disk.

Runs in fresh interpreters: in this one, earlier tests have already compiled the kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json, sys, time
from numba.core import event
from numba.core.registry import CPUDispatcher
from throttling_sequencer.adapters.planners.kernel.warm import warm_up

warmed = warm_up()

from throttling_sequencer.adapters.planners.exact import ExactPlanner
from throttling_sequencer.adapters.planners.genetic import GeneticParameters, GeneticPlanner
from throttling_sequencer.adapters.planners.random_search import RandomPlanner
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.ports import StopSignal

def signatures():
    return {
        f"{name}.{attr}": len(value.signatures)
        for name, module in list(sys.modules.items()) if name.startswith("throttling_sequencer")
        for attr, value in vars(module).items() if isinstance(value, CPUDispatcher)
    }

before = signatures()
small_ga = GeneticParameters(population=50, generations=5)
planners = [ExactPlanner(), GeneticPlanner(small_ga), RandomPlanner(200)]
problems = [Problem(5000.0, 0.0, 10.0, 0.01), Problem(0.5, 6.0, 0.05, 0.0), Problem(900.0, 2.0, 3.0, 0.99)]
configs = [
    PlannerConfig(seed=1),
    PlannerConfig(max_ticks=7, min_throttle=2, max_throttle=9),
    PlannerConfig(seed=2**63, max_ticks=1000, max_throttle=10_000),
]
with event.install_recorder("numba:compile") as compiles:
    for planner in planners:
        for problem in problems:
            for config in configs:
                planner.plan(problem, config, StopSignal(time.monotonic() + config.time_budget_seconds))
after = signatures()
print(json.dumps({
    "compiled_in_warm_up": warmed.compiled,
    "loaded_in_warm_up": warmed.loaded,
    "compiled_while_planning": len(compiles.buffer),
    "added_while_planning": {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)},
}))
"""


def run() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_after_warm_up_plans_never_compile_and_a_restart_loads_from_the_disk_cache() -> None:
    run()  # the first process compiles whatever the disk cache lacks, and saves it
    restarted = run()
    assert restarted["added_while_planning"] == {}
    assert restarted["compiled_while_planning"] == 0
    assert restarted["compiled_in_warm_up"] == 0
    assert restarted["loaded_in_warm_up"] >= 6
