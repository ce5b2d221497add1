"""The image carries the compiled planner kernels, in a cache the service user can use."""

from __future__ import annotations

import importlib.util
from pathlib import Path

WARM = "throttling_sequencer.adapters.planners.kernel.warm"


def test_the_build_warms_the_kernel_cache_and_prod_gets_it_writable(repo_root: Path) -> None:
    dockerfile = (repo_root / "Dockerfile").read_text()
    base, rest = dockerfile.split("AS build", 1)
    build, prod = rest.split("AS prod", 1)
    prod = prod.split("FROM ", 1)[0]
    assert "NUMBA_CACHE_DIR=/app/numba-cache" in base
    # Warmed after the package is installed at its final path (the cache is keyed by it).
    assert build.index(f"RUN python -m {WARM}") > build.index("pip install --no-cache-dir --no-deps .")
    assert importlib.util.find_spec(WARM) is not None
    # numba skips a cache directory it cannot write to, so the service user must own it.
    assert "COPY --from=build --chown=10001 /app/numba-cache /app/numba-cache" in prod
