"""Command line: `throttling-sequencer serve | plan | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from google.protobuf import json_format

from throttling.v1 import game_state_pb2, planning_pb2
from throttling_sequencer import container as composition
from throttling_sequencer import logs, workers
from throttling_sequencer.adapters.grpc import mappers
from throttling_sequencer.adapters.grpc.validation import Limits, Violations, check_game_state, check_options
from throttling_sequencer.app import Application
from throttling_sequencer.domain.config import PlannerConfig
from throttling_sequencer.domain.errors import InvalidInput
from throttling_sequencer.domain.model import Plan, Strategy
from throttling_sequencer.service.planning import CallContext, PlanningService
from throttling_sequencer.settings import Settings, SettingsError
from throttling_sequencer.startup import StartupError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="throttling-sequencer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC server (settings from THROTTLING_* variables)")
    serve.add_argument("--port", type=int, help="gRPC port (default 50051, THROTTLING_GRPC_PORT)")
    serve.add_argument(
        "--workers", type=int, help="server processes sharing the port (default 1, THROTTLING_WORKERS)"
    )

    plan = commands.add_parser("plan", help="plan one game state in-process and print the ticks")
    plan.add_argument("file", nargs="?", type=Path, help="GameState JSON (as POSTed over REST); - for stdin")
    plan.add_argument("--target-x", type=float, default=5000.0)
    plan.add_argument("--target-y", type=float, default=0.0)
    plan.add_argument("--speed", type=float, default=0.0)
    plan.add_argument("--mass", type=float, default=10.0)
    plan.add_argument("--friction", type=float, default=0.01)
    plan.add_argument("--strategy", choices=["exact", "genetic", "random"])
    plan.add_argument("--seed", type=int)
    plan.add_argument("--time-budget-ms", type=int)
    plan.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw the plan to a PNG")

    commands.add_parser("migrate", help="apply database migrations (THROTTLING_DATABASE_URL)")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        parser.error(str(error))
    if args.command == "serve":
        try:
            if args.port is not None:
                settings = settings.with_changes(grpc_port=args.port)
            if args.workers is not None:
                settings = settings.with_changes(workers=args.workers)
        except SettingsError as error:
            parser.error(str(error))
        logs.configure(settings.log_level, settings.log_format)
        try:
            if settings.workers > 1:
                return workers.run(settings, settings.workers)
            asyncio.run(Application(settings).run_until_signalled())
        except StartupError as error:  # one line saying what to change, not a traceback
            parser.exit(1, f"{parser.prog}: error: {error}\n")
        return 0
    if args.command == "migrate":
        logs.configure(settings.log_level, settings.log_format)
        try:
            asyncio.run(composition.migrate(settings))
        except StartupError as error:
            parser.exit(1, f"{parser.prog}: error: {error}\n")
        print(f"migrations applied to {settings.resolved_database_url.split('@')[-1]}")
        return 0
    logs.configure("WARNING", "text")
    return _plan(args, settings)


def _plan(args: argparse.Namespace, settings: Settings) -> int:
    state = game_state_pb2.GameState()
    if args.file is not None:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
        try:
            json_format.Parse(text, state)
        except json_format.ParseError as error:
            print(f"error: {args.file} is not a GameState: {error}", file=sys.stderr)
            return 2
    else:
        player = game_state_pb2.Unit(coordinate={}, speed=args.speed, mass=args.mass, friction=args.friction)
        enemy = game_state_pb2.Unit(
            coordinate={"x": args.target_x, "y": args.target_y}, mass=50.0, friction=0.5
        )
        state.player_units.append(player)
        state.enemy_units.append(enemy)
    options = planning_pb2.PlannerOptions(seed=args.seed, time_budget_ms=args.time_budget_ms)
    if args.strategy:
        options.strategy = mappers.STRATEGY_TO_WIRE[Strategy(args.strategy)]
    try:
        violations = Violations()
        check_game_state(violations, state, True, Limits(max_units=settings.max_units))
        check_options(violations, options)
        violations.raise_if_any()
        plan = asyncio.run(_run(settings, state, options))
    except InvalidInput as error:
        for v in error.violations:
            print(f"error: {v.field} {v.description}", file=sys.stderr)
        return 2
    print(render_table(plan))
    if args.plot is not None:
        from throttling_sequencer.plot import save_plot

        save_plot(plan, PlannerConfig().with_overrides(plan.overrides), args.plot)
        print(f"plot written to {args.plot}")
    return 0


async def _run(
    settings: Settings, state: game_state_pb2.GameState, options: planning_pb2.PlannerOptions
) -> Plan:
    container = composition.build(settings.with_changes(database_url="memory://"))
    async with composition.storage(container), composition.planning(container) as service:
        return await service.create_plan(
            mappers.game_state_from_wire(state),
            mappers.overrides_from_wire(options),
            CallContext(request_id="cli", user_id="cli"),
        )


def render_table(plan: Plan) -> str:
    rows = [f"{'tick':>4}  {'throttle':>8}  {'speed':>10}  {'covered':>12}  {'remaining':>12}"]
    for t in PlanningService.ticks(plan):
        rows.append(
            f"{t.tick:>4}  {t.throttle:>8}  {t.speed:>10.3f}  {t.distance_covered:>12.3f}  "
            f"{plan.target_distance - t.distance_covered:>12.3f}"
        )
    s = plan.score
    rows.append(
        f"\nstrategy {plan.strategy.value}: score {s.total:.6f} = distance error {s.distance_error:.6f}, "
        f"speed penalty {s.speed_penalty:.6f}, {s.ticks} ticks, {s.nonzero_ticks} non-zero; "
        f"final speed {plan.final_speed:.3f}; planned in {plan.compute_seconds * 1000:.1f} ms"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
