"""warm_up() compiles in a child process and loads here; after it, no plan compiles or loads.

Runs in a fresh interpreter with an empty numba cache: in this one, earlier tests have already
compiled the kernels, and the worktree's cache may already hold them.
"""

from __future__ import annotations

import json
import os
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


def test_warm_up_compiles_elsewhere_loads_here_and_leaves_nothing_for_the_first_plans(
    tmp_path: Path,
) -> None:
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["added_while_planning"] == {}
    assert result["compiled_while_planning"] == 0
    # The child compiled into the empty cache; this process only loaded (LLVM memory stays out).
    assert result["compiled_in_warm_up"] == 0
    assert result["loaded_in_warm_up"] >= 6
