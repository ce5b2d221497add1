"""A cached kernel recompiles when a module it calls changes, not only when its own does.

numba alone checks a kernel against its own file, and would go on loading stale code. Runs on a
copy of the package with its own numba cache, in fresh interpreters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
KERNEL = Path("throttling_sequencer/adapters/planners/kernel")

SCRIPT = """
import json
import numpy as np
from throttling_sequencer.adapters.planners.kernel import genetic, rng
genes, lengths, scores = np.zeros((4, 3), dtype=np.int32), np.zeros(4, dtype=np.int32), np.zeros(4)
problem, weights = np.array([50.0, 1.0, 2.0, 0.1]), np.ones(5)
genetic.seed_population(genes, lengths, scores, rng.new_state(1), problem, weights, 0, 9)
loaded = sum(genetic.seed_population.stats.cache_hits.values())
print(json.dumps({"scores": scores.tolist(), "loaded": loaded, "file": genetic.__file__}))
"""


def run(environment: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_editing_the_simulation_recompiles_the_genetic_kernels_that_call_it(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "server" / "throttling_sequencer",
        source / "throttling_sequencer",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    environment = {**os.environ, "PYTHONPATH": str(source), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = run(environment)
    assert first["file"].startswith(str(source)) and first["loaded"] == 0
    assert run(environment) == {**first, "loaded": 1}  # unchanged: loaded from the disk cache

    simulation = source / KERNEL / "simulation.py"
    simulation.write_text(simulation.read_text().replace("covered += speed", "covered += 2.0 * speed"))
    edited = run(environment)
    assert edited["loaded"] == 0
    assert edited["scores"] != first["scores"]
