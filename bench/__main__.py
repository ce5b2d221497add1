"""`make bench`: planner quality and latency, GA speed-up, planner threads and memory, service
throughput (and its ratios to the transport's floor, issue 12's targets), guidance ticks, front-door
latency.

    python -m bench [--quick] [--only planners|kernels|fairness|service|throughput|guidance|frontdoor|soak]
                    [--soak [--soak-seconds N]]

Prints tables; every ratio is against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import fairness, frontdoor, guidance, kernels, planners, service, soak, throughput
from throttling_sequencer import logs
from throttling_sequencer.adapters.planners.kernel.warm import warm_up


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller budgets and samples (about a minute)")
    parser.add_argument(
        "--only",
        choices=["planners", "kernels", "fairness", "service", "throughput", "guidance", "frontdoor", "soak"],
    )
    parser.add_argument("--soak", action="store_true", help="also run the soak (10 minutes by default)")
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    args = parser.parse_args()
    logs.configure("WARNING", "text")
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    # As the server does before it reports SERVING: no plan below pays for loading a kernel.
    progress(f"kernels warmed up: {warm_up()}")
    if args.only in (None, "planners"):
        print("\n## Planners on the public scenarios (gap = score - proven optimum)\n")
        print(planners.render(planners.planner_rows(args.quick, progress)), flush=True)
        print("\n## Exact planner: per-plan CPU time against its numpy predecessor, proven share\n")
        print(planners.render_exact(planners.exact_rows(args.quick, progress)), flush=True)
    if args.only in (None, "kernels"):
        print("\n## Compiled kernels: GA speed, planner threads on 2 cores, server memory\n")
        ga = kernels.ga_speed(args.quick, progress)
        rows, notes = kernels.thread_rows(args.quick, progress)
        print(kernels.render(ga, rows, notes, kernels.server_memory(progress)), flush=True)
    if args.only in (None, "fairness"):
        print("\n## Fairness: stopping at the budget, and default plans beside long ones\n")
        print(fairness.render(fairness.fairness_rows(args.quick, progress)), flush=True)
    if args.only in (None, "service"):
        print("\n## Service: exact plans over gRPC (CreatePlan, public scenarios round-robin)\n")
        print(service.render(service.service_rows(args.quick, progress)), flush=True)
    if args.only in (None, "throughput"):
        print(
            "\n## Throughput against the transport's floor: ratios to gRPC health checks/s in the same run\n"
            "(1 server process, default storage and logging, 16 concurrent calls; targets of issue 12)\n"
        )
        print(throughput.render(throughput.throughput(args.quick, progress)), flush=True)
    if args.only in (None, "guidance"):
        print("\n## Guidance: a Guide tick against a health check (in turns, one connection)\n")
        print(guidance.render(guidance.guidance_timings(args.quick, progress)), flush=True)
    if args.soak or args.only == "soak":
        print(
            f"\n## Soak: 80 % of capacity through Envoy for {args.soak_seconds:.0f} s, then a graceful stop\n"
        )
        print(soak.render(soak.run(args.soak_seconds, progress)), flush=True)
        if args.only == "soak":
            return 0
    if args.only in (None, "frontdoor"):
        print("\n## Front door: the default payload by gRPC, REST and GraphQL (sequential)\n")
        print(frontdoor.render(frontdoor.frontdoor_rows(args.quick, progress)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
