"""Kernel benchmark: GA speed per CPU second, planner threads in parallel, server memory.

GA speed: the compiled GA and the pure-Python baseline take turns on the same scenarios and
budget (as in the planners table), but generations are counted per second of the planning
thread's own CPU time, so the ratio does not move with what else the machine runs.

Threads: the same plans run by one planner thread, then by two at once (each its own copy of
the work, started together); the ratio is plans/s with two over plans/s with one. Kernels drop
the GIL, so on two free cores it nears 2x. The two set-ups alternate three times (median).
Other processes share the cores, and Linux splits CPU time between sessions (autogroup), not
threads, so the table also shows the cores the process got, a control row (hashlib, known to
release the GIL: it scales only as far as the machine lets this process), and a bound that
does not depend on the machine: the share of a plan spent holding the GIL (outside the
kernels), f, caps two threads at 2 / (1 + f) times one (Amdahl).

Memory: a real `throttling-sequencer serve` (SQLite in a temp dir, free port), two plans per
strategy so every kernel is loaded, then VmRSS (and its peak, VmHWM) from /proc.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from numba.core.registry import CPUDispatcher

from bench.baseline_ga import PurePythonGeneticPlanner
from bench.planners import load_scenarios
from bench.service import requests, served
from throttling.v1 import planning_pb2
from throttling.v1 import throttling_service_pb2 as pb
from throttling.v1.throttling_service_pb2_grpc import ThrottlingServiceStub
from throttling_sequencer.adapters.planners.genetic import GeneticPlanner
from throttling_sequencer.adapters.planners.kernel.warm import warm_up
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Problem
from throttling_sequencer.domain.ports import Planner, StopSignal

GA_TARGET = 20.0
THREAD_TARGET = 1.7
RSS_TARGET_MB = 250.0
Job = tuple[Problem, PlannerConfig]


@dataclass(frozen=True)
class GaSpeed:
    compiled: float  # generations per CPU second
    baseline: float
    wall_ratio: float  # the same, per wall-clock second

    @property
    def ratio(self) -> float:
        return self.compiled / self.baseline


def ga_speed(quick: bool, progress: Callable[[str], None]) -> GaSpeed:
    scenarios = load_scenarios()[:: 12 if quick else 6]
    config = PlannerConfig(seed=1, time_budget_ms=250 if quick else 1000)
    planners: dict[str, Planner] = {"compiled": GeneticPlanner(), "baseline": PurePythonGeneticPlanner()}
    generations = dict.fromkeys(planners, 0)
    cpu = dict.fromkeys(planners, 0.0)
    wall = dict.fromkeys(planners, 0.0)
    progress(f"GA speed: compiled and pure-Python baseline in turns, {len(scenarios)} scenarios")
    for scenario in scenarios:
        for name, planner in planners.items():
            started, cpu_started = time.perf_counter(), time.thread_time()
            stop = StopSignal(time.monotonic() + config.time_budget_seconds)
            generations[name] += planner.plan(scenario.problem, config, stop).iterations
            cpu[name] += time.thread_time() - cpu_started
            wall[name] += time.perf_counter() - started

    def rate(name: str, seconds: dict[str, float]) -> float:
        return generations[name] / seconds[name]

    wall_ratio = rate("compiled", wall) / rate("baseline", wall)
    return GaSpeed(rate("compiled", cpu), rate("baseline", cpu), wall_ratio)


@dataclass(frozen=True)
class Rate:
    plans_per_second: float
    cores: float  # CPU seconds the process used per second of wall time


@dataclass(frozen=True)
class Scaling:
    strategy: str
    one_thread: Rate
    two_threads: Rate
    ratios: list[float]
    gil_share: float | None  # of a plan's time, outside the kernels

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def bound(self) -> float | None:
        return None if self.gil_share is None else 2 / (1 + self.gil_share)


@dataclass(frozen=True)
class Memory:
    serving_mb: float
    warm_mb: float
    peak_mb: float


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def plan_all(planner: Planner, jobs: list[Job]) -> Callable[[], int]:
    def work() -> int:
        for problem, config in jobs:
            planner.plan(problem, config, StopSignal(math.inf))
        return len(jobs)

    return work


def hash_blocks(blocks: int = 4, size: int = 16 << 20) -> Callable[[], int]:
    """A control: hashlib drops the GIL on large buffers, so this scales as far as cores allow."""
    data = b"\0" * size

    def work() -> int:
        for _ in range(blocks):
            hashlib.sha256(data).digest()
        return blocks

    return work


def run_threads(work: Callable[[], int], threads: int) -> Rate:
    """Items/s when `threads` threads each do `work`, all starting at once."""
    start = threading.Barrier(threads + 1)
    done = [0] * threads

    def run(k: int) -> None:
        start.wait()
        done[k] = work()

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    started, cpu = time.perf_counter(), _cpu_seconds()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    return Rate(sum(done) / wall, (_cpu_seconds() - cpu) / wall)


@contextmanager
def kernel_clock(module: ModuleType) -> Iterator[list[float]]:
    """Time every call the module makes to a compiled kernel (its module-level names)."""
    spent = [0.0]
    originals = {k: v for k, v in vars(module).items() if isinstance(v, CPUDispatcher)}

    def timed(kernel: Any) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return kernel(*args)
            finally:
                spent[0] += time.perf_counter() - started

        return call

    for name, kernel in originals.items():
        setattr(module, name, timed(kernel))
    try:
        yield spent
    finally:
        for name, kernel in originals.items():
            setattr(module, name, kernel)


def gil_share(planner: Planner, jobs: list[Job], module: ModuleType | None = None) -> float | None:
    """The share of one thread's planning time spent outside kernels, i.e. holding the GIL.

    `module`: where the planner calls its kernels from (by default the planner's own module).
    """
    module = module or sys.modules[type(planner).__module__]
    if not any(isinstance(v, CPUDispatcher) for v in vars(module).values()):
        return None
    with kernel_clock(module) as spent:
        started = time.perf_counter()
        for problem, config in jobs:
            planner.plan(problem, config, StopSignal(math.inf))
        total = time.perf_counter() - started
    return max(0.0, 1.0 - spent[0] / total)


@dataclass(frozen=True)
class Workload:
    name: str
    work: Callable[[], int]
    gil_share: float | None = None


def scaling(workloads: list[Workload], rounds: int) -> list[Scaling]:
    """Each round runs every workload on 1 thread, then on 2, so all see the same conditions."""
    ones: dict[str, list[Rate]] = {w.name: [] for w in workloads}
    twos: dict[str, list[Rate]] = {w.name: [] for w in workloads}
    for _ in range(rounds):
        for w in workloads:
            ones[w.name].append(run_threads(w.work, 1))
            twos[w.name].append(run_threads(w.work, 2))

    def median(rates: list[Rate]) -> Rate:
        return Rate(
            statistics.median(r.plans_per_second for r in rates), statistics.median(r.cores for r in rates)
        )

    return [
        Scaling(
            w.name,
            median(ones[w.name]),
            median(twos[w.name]),
            [
                b.plans_per_second / a.plans_per_second
                for a, b in zip(ones[w.name], twos[w.name], strict=True)
            ],
            w.gil_share,
        )
        for w in workloads
    ]


def compiled_exact() -> Planner | None:
    """The exact planner, if its search runs in a compiled kernel on this branch (else None)."""
    exact = importlib.import_module("throttling_sequencer.adapters.planners.exact")
    modules = [m for name, m in list(sys.modules.items()) if "planners" in name and "exact" in name]
    if not any(isinstance(v, CPUDispatcher) for m in modules for v in vars(m).values()):
        return None
    planner: Planner = exact.ExactPlanner()
    return planner


def thread_rows(quick: bool, progress: Callable[[str], None]) -> tuple[list[Scaling], list[str]]:
    problems = [s.problem for s in load_scenarios()]
    notes = []
    warm_up()
    ga_jobs = [(p, PlannerConfig(seed=k)) for k, p in enumerate(problems[:2])]
    genetic = GeneticPlanner()
    workloads = [
        Workload("control", hash_blocks()),
        Workload("genetic", plan_all(genetic, ga_jobs), gil_share(genetic, ga_jobs)),
    ]
    exact = compiled_exact()
    if exact is None:
        notes.append("exact: no compiled kernel on this branch, not measured")
    else:
        exact_jobs = [(p, PlannerConfig()) for p in problems]
        search = importlib.import_module("throttling_sequencer.adapters.planners.kernel.exact")
        share = gil_share(exact, exact_jobs, search)
        workloads.append(Workload("exact", plan_all(exact, exact_jobs), share))
    rounds = 3 if quick else 9
    progress(f"threads: {', '.join(w.name for w in workloads)} on 1 then 2 threads, {rounds} rounds")
    return scaling(workloads, rounds), notes


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def server_memory(progress: Callable[[str], None]) -> Memory:
    progress("memory: one server process, two plans per strategy")
    with served(ready_within=120) as (port, server):
        serving = _status_mb(server.pid, "VmRSS")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ThrottlingServiceStub(channel)
            for strategy in ("STRATEGY_EXACT", "STRATEGY_GENETIC", "STRATEGY_RANDOM"):
                for body in requests()[:2]:
                    options = planning_pb2.PlannerOptions(strategy=strategy, time_budget_ms=2000)
                    request = pb.CreatePlanRequest(game_state=body.game_state, options=options)
                    stub.CreatePlan(request, timeout=120)
        return Memory(serving, _status_mb(server.pid, "VmRSS"), _status_mb(server.pid, "VmHWM"))


def render(ga: GaSpeed, rows: list[Scaling], notes: list[str], memory: Memory) -> str:
    lines = [
        f"GA generations per CPU second: {ga.compiled:.0f} compiled vs {ga.baseline:.0f} pure-Python "
        f"baseline = {ga.ratio:.1f}x (target >= {GA_TARGET:.0f}x; per wall-clock second "
        f"{ga.wall_ratio:.1f}x)",
        "",
    ]
    columns = [
        ("strategy", 9, "<"),
        ("1 thread /s", 12, ">"),
        ("2 threads /s", 13, ">"),
        ("ratio", 6, ">"),
        ("rounds min-max", 14, ">"),
        ("cores used 1/2", 14, ">"),
        ("GIL-held", 8, ">"),
        ("bound", 6, ">"),
    ]
    header = " ".join(f"{name:{align}{width}}" for name, width, align in columns)
    lines += [header, "-" * len(header)]
    for r in rows:
        one, two = r.one_thread, r.two_threads
        values = [
            r.strategy,
            f"{one.plans_per_second:.1f}",
            f"{two.plans_per_second:.1f}",
            f"{r.ratio:.2f}x",
            f"{min(r.ratios):.2f}-{max(r.ratios):.2f}",
            f"{one.cores:.2f} / {two.cores:.2f}",
            "n/a" if r.gil_share is None else f"{100 * r.gil_share:.1f} %",
            "n/a" if r.bound is None else f"{r.bound:.2f}x",
        ]
        lines.append(
            " ".join(f"{v:{align}{width}}" for v, (_, width, align) in zip(values, columns, strict=True))
        )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(
        "per second: plans (hashes of 16 MB for the control); "
        f"target >= {THREAD_TARGET}x with 2 threads on {len(os.sched_getaffinity(0))} cores; load average "
        f"{load}: with other sessions busy the process gets fewer cores than threads, and the ratio "
        f"follows the cores it got (bound = 2 / (1 + GIL-held share), for two free cores)"
    )
    lines.extend(notes)
    verdict = "within" if memory.warm_mb <= RSS_TARGET_MB else "OVER"
    lines.append(
        f"server RSS: {memory.serving_mb:.0f} MB when serving, {memory.warm_mb:.0f} MB after plans with "
        f"every strategy (peak {memory.peak_mb:.0f} MB); {verdict} the {RSS_TARGET_MB:.0f} MB target"
    )
    return "\n".join(lines)
