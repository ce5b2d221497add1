"""A picture of a plan: throttle, speed and distance per tick, with the target and speed limit."""

from __future__ import annotations

from pathlib import Path

from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.model import Plan
from throttling_sequencer.service.planning import PlanningService


def save_plot(plan: Plan, config: PlannerConfig, path: Path) -> None:
    """Write a PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    states = list(PlanningService.ticks(plan))
    ticks = [s.tick for s in states]
    figure, (throttle, speed, distance) = plt.subplots(
        3, 1, sharex=True, figsize=(9, 7), constrained_layout=True
    )
    throttle.bar(ticks, [s.throttle for s in states], color="tab:orange", width=0.8)
    throttle.set_ylabel("throttle")
    throttle.set_ylim(0, max(config.max_throttle, 1) * 1.05)
    speed.plot(ticks, [s.speed for s in states], color="tab:blue", marker=".")
    speed.axhline(config.speed_threshold, color="tab:red", linestyle="--", label="speed threshold")
    speed.set_ylabel("speed")
    speed.legend(loc="upper right")
    distance.plot(ticks, [s.distance_covered for s in states], color="tab:green", marker=".")
    distance.axhline(plan.target_distance, color="black", linestyle="--", label="target")
    distance.set_ylabel("distance covered")
    distance.set_xlabel("tick")
    distance.legend(loc="lower right")
    s = plan.score
    figure.suptitle(
        f"{plan.strategy.value} plan: score {s.total:.6f} ({s.ticks} ticks, {s.nonzero_ticks} non-zero, "
        f"distance error {s.distance_error:.2g}, final speed {plan.final_speed:.2f})"
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)
