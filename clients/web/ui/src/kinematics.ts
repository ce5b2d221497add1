/**
 * The unit's speed and distance after each tick of a plan, for the charts.
 *
 * The same model as the server's simulator (server/throttling_sequencer/domain/physics.py):
 * v_t = (v_{t-1} + u_t / m) * (1 - f), distance covered = the sum of v_t; the planner moves the
 * first player unit towards the first enemy unit. The browser test checks the last point of
 * each series against the plan's own final_speed and distance_covered, so a drift between the
 * two definitions fails there.
 */
import type { GameState } from "../../../ts/src/index.js";

export interface Trajectory {
  /** Speed after each tick. */
  speed: number[];
  /** Distance covered after each tick. */
  covered: number[];
  /** Distance from the unit to its target at the start. */
  target: number;
}

export function simulate(state: GameState, throttles: readonly number[]): Trajectory {
  const unit = state.playerUnits[0];
  const target = state.enemyUnits[0];
  if (unit === undefined || target === undefined) {
    return { speed: [], covered: [], target: 0 };
  }
  const keep = 1 - unit.friction;
  let speed = unit.speed;
  let covered = 0;
  const speeds: number[] = [];
  const distances: number[] = [];
  for (const throttle of throttles) {
    speed = (speed + throttle / unit.mass) * keep;
    covered += speed;
    speeds.push(speed);
    distances.push(covered);
  }
  const dx = (target.coordinate?.x ?? 0) - (unit.coordinate?.x ?? 0);
  const dy = (target.coordinate?.y ?? 0) - (unit.coordinate?.y ?? 0);
  return { speed: speeds, covered: distances, target: Math.hypot(dx, dy) };
}
