/**
 * The web page at /ui: plan a game state, see the plan per tick, watch the planner improve it,
 * page through stored plans. It calls the service with the TypeScript client (clients/ts) over
 * gRPC-Web, on the origin that served it (Envoy's front door); `make gen` bundles it (esbuild).
 */
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import {
  Arrival,
  createThrottlingClient,
  fieldViolations,
  type GameState,
  GameStateSchema,
  type Plan,
  type PlannerOptions,
  PlannerOptionsSchema,
  type Score,
  Strategy,
} from "../../../ts/src/index.js";
import { grpcWebTransport } from "../../../ts/src/web.js";
import { type Chart, render } from "./charts.js";
import { simulate } from "./kinematics.js";

/** The earlier REST API's default payload: a unit at the origin, its target 5000 to the east. */
const DEFAULT_GAME_STATE = {
  playerUnits: [{ coordinate: { x: 0, y: 0 }, speed: 0, mass: 10, friction: 0.01 }],
  enemyUnits: [{ coordinate: { x: 5000, y: 0 }, speed: 0, mass: 50, friction: 0.5 }],
};
const DEFAULT_OPTIONS = { strategy: "STRATEGY_EXACT" };
const PAGE_SIZE = 10;

const client = createThrottlingClient(grpcWebTransport(window.location.origin));

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
  gameState: byId<HTMLTextAreaElement>("game-state"),
  options: byId<HTMLTextAreaElement>("options"),
  plan: byId<HTMLButtonElement>("plan"),
  watch: byId<HTMLButtonElement>("watch"),
  reset: byId<HTMLButtonElement>("reset"),
  status: byId<HTMLParagraphElement>("status"),
  violations: byId<HTMLUListElement>("violations"),
  result: byId<HTMLElement>("result"),
  planId: byId<HTMLElement>("plan-id"),
  score: byId<HTMLDListElement>("score"),
  charts: byId<HTMLDivElement>("charts"),
  plans: byId<HTMLTableSectionElement>("plans"),
  newer: byId<HTMLButtonElement>("newer"),
  older: byId<HTMLButtonElement>("older"),
  page: byId<HTMLSpanElement>("page"),
};

// --- input -------------------------------------------------------------------------------------

class InputError extends Error {}

function parse(textarea: HTMLTextAreaElement, what: string): JsonValue {
  try {
    return JSON.parse(textarea.value || "{}") as JsonValue;
  } catch (error) {
    throw new InputError(`${what}: not JSON (${(error as Error).message})`);
  }
}

/** The request from the two text areas (protobuf JSON: camelCase or snake_case names). */
function request(): { gameState: GameState; options: PlannerOptions } {
  try {
    return {
      gameState: fromJson(GameStateSchema, parse(ui.gameState, "game state")),
      options: fromJson(PlannerOptionsSchema, parse(ui.options, "options")),
    };
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError((error as Error).message);
  }
}

function resetInput(): void {
  ui.gameState.value = JSON.stringify(DEFAULT_GAME_STATE, null, 2);
  ui.options.value = JSON.stringify(DEFAULT_OPTIONS, null, 2);
}

// --- status and errors -------------------------------------------------------------------------

function say(text: string, kind: "busy" | "ok" | "error" = "ok"): void {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
}

function fail(error: unknown): void {
  ui.violations.replaceChildren();
  if (error instanceof InputError) {
    say(error.message, "error");
    return;
  }
  const connect = ConnectError.from(error);
  say(`${Code[connect.code]}: ${connect.rawMessage}`, "error");
  for (const violation of fieldViolations(connect)) {
    const item = document.createElement("li");
    item.textContent = `${violation.field}: ${violation.description}`;
    ui.violations.append(item);
  }
}

// --- the plan ----------------------------------------------------------------------------------

function decimal(value: number | undefined, digits = 4): string {
  return value === undefined ? "—" : String(Number(value.toPrecision(digits)));
}

/** One row of the score list; `data-field` names the Plan field, `data-value` holds it raw. */
function row(field: string, name: string, value: string, raw?: number | boolean | string): void {
  const term = document.createElement("dt");
  term.textContent = name;
  const description = document.createElement("dd");
  description.textContent = value;
  description.dataset.field = field;
  if (raw !== undefined) description.dataset.value = String(raw);
  ui.score.append(term, description);
}

function scoreRows(score: Score | undefined, bound: number | undefined, gap: number | undefined): void {
  row("score.total", "score", decimal(score?.total), score?.total);
  row("score.distanceError", "  distance error", decimal(score?.distanceError), score?.distanceError);
  row("score.speedPenalty", "  speed penalty", decimal(score?.speedPenalty), score?.speedPenalty);
  row("score.ticks", "  ticks", String(score?.ticks ?? "—"), score?.ticks);
  row("score.nonzeroTicks", "  non-zero ticks", String(score?.nonzeroTicks ?? "—"), score?.nonzeroTicks);
  row("lowerBound", "lower bound", decimal(bound), bound);
  row("optimalityGap", "gap", decimal(gap), gap);
}

function provenOptimal(plan: Plan): void {
  row("provenOptimal", "proven optimal", plan.provenOptimal ? "yes" : "no", plan.provenOptimal);
}

function charts(gameState: GameState, throttles: number[], options: PlannerOptions | undefined): Chart[] {
  const trajectory = simulate(gameState, throttles);
  return [
    {
      id: "throttle",
      title: "Throttle per tick",
      xLabel: "tick",
      series: [{ name: "throttle", values: throttles, kind: "bar" }],
    },
    {
      id: "speed",
      title: "Speed after each tick",
      xLabel: "tick",
      series: [{ name: "speed", values: trajectory.speed, kind: "line" }],
      references: options?.speedThreshold === undefined ? [] : [{ name: "threshold", value: options.speedThreshold }],
    },
    {
      id: "distance",
      title: "Distance covered against the target",
      xLabel: "tick",
      series: [{ name: "covered", values: trajectory.covered, kind: "line" }],
      references: [{ name: "target", value: trajectory.target }],
    },
  ];
}

function showPlan(plan: Plan, extra: Chart[] = []): void {
  ui.result.hidden = false;
  ui.result.dataset.state = "done";
  ui.planId.textContent = plan.planId;
  ui.score.replaceChildren();
  row("strategy", "strategy", Strategy[plan.strategy] ?? String(plan.strategy));
  row("arrival", "arrival", Arrival[plan.arrival] ?? String(plan.arrival));
  scoreRows(plan.score, plan.lowerBound, plan.optimalityGap);
  provenOptimal(plan);
  row("finalSpeed", "final speed", decimal(plan.finalSpeed), plan.finalSpeed);
  row(
    "distanceCovered",
    "distance covered / target",
    `${decimal(plan.distanceCovered, 6)} / ${decimal(plan.targetDistance, 6)}`,
    plan.distanceCovered,
  );
  row("computeTime", "compute time", plan.computeTime ? `${durationMs(plan.computeTime).toFixed(1)} ms` : "—");
  const throttles = plan.goals.map((goal) => goal.throttle);
  const state = plan.gameState ?? create(GameStateSchema);
  ui.charts.replaceChildren(...[...charts(state, throttles, plan.options), ...extra].map(render));
}

// --- actions -----------------------------------------------------------------------------------

function busy(running: boolean): void {
  ui.plan.disabled = ui.watch.disabled = running;
}

async function planOnce(): Promise<void> {
  busy(true);
  ui.violations.replaceChildren();
  say("planning…", "busy");
  try {
    const { plan } = await client.createPlan(request());
    if (plan === undefined) throw new Error("the answer holds no plan");
    showPlan(plan);
    say(`planned in ${plan.computeTime ? durationMs(plan.computeTime).toFixed(1) : "?"} ms`);
    await showPage(0);
  } catch (error) {
    fail(error);
  } finally {
    busy(false);
  }
}

/** StreamPlanProgress: redraw on each improvement, then show the stored plan. */
async function watch(): Promise<void> {
  busy(true);
  ui.violations.replaceChildren();
  say("planning…", "busy");
  const totals: number[] = [];
  const bounds: number[] = [];
  try {
    const { gameState, options } = request();
    for await (const message of client.streamPlanProgress({ gameState, options })) {
      const event = message.event;
      if (event.case === "progress") {
        const progress = event.value;
        totals.push(progress.score?.total ?? Number.NaN);
        if (progress.lowerBound !== undefined) bounds.push(progress.lowerBound);
        ui.result.hidden = false;
        ui.result.dataset.state = "improving";
        ui.result.dataset.improvements = String(totals.length);
        ui.planId.textContent = `improvement ${totals.length} (iteration ${progress.iteration})`;
        ui.score.replaceChildren();
        scoreRows(progress.score, progress.lowerBound, progress.optimalityGap);
        row("elapsed", "elapsed", progress.elapsed ? `${durationMs(progress.elapsed).toFixed(1)} ms` : "—");
        const throttles = progress.goals.map((goal) => goal.throttle);
        ui.charts.replaceChildren(...[...charts(gameState, throttles, options), improvements(totals, bounds)].map(render));
        say(`improvement ${totals.length}: score ${decimal(progress.score?.total)}`, "busy");
      } else if (event.case === "done") {
        showPlan(event.value, [improvements(totals, bounds)]);
        ui.result.dataset.improvements = String(totals.length);
        say(`done after ${totals.length} improvements`);
      }
    }
    await showPage(0);
  } catch (error) {
    fail(error);
  } finally {
    busy(false);
  }
}

function improvements(totals: number[], bounds: number[]): Chart {
  const series: Chart["series"] = [{ name: "score", values: totals, kind: "line" }];
  if (bounds.length === totals.length && bounds.length > 0) series.push({ name: "bound", values: bounds, kind: "line" });
  return { id: "improvements", title: "Score of each improvement (and its lower bound)", xLabel: "improvement", series };
}

// --- stored plans ------------------------------------------------------------------------------

/** Page tokens of the pages seen so far: tokens[i] opens page i (page 0 has the empty token). */
const tokens: string[] = [""];
let page = 0;

async function showPage(index: number): Promise<void> {
  const { plans, nextPageToken } = await client.listPlans({ pageSize: PAGE_SIZE, pageToken: tokens[index] ?? "" });
  page = index;
  tokens.length = index + 1;
  if (nextPageToken) tokens.push(nextPageToken);
  ui.plans.replaceChildren(...plans.map(planRow));
  ui.page.textContent = `page ${index + 1}`;
  ui.newer.disabled = index === 0;
  ui.older.disabled = !nextPageToken;
}

function planRow(plan: Plan): HTMLTableRowElement {
  const tr = document.createElement("tr");
  tr.dataset.planId = plan.planId;
  const cells = [
    plan.createTime ? timestampDate(plan.createTime).toLocaleString() : "—",
    Strategy[plan.strategy] ?? "",
    String(plan.score?.ticks ?? ""),
    decimal(plan.score?.total),
    decimal(plan.optimalityGap),
  ];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  const open = document.createElement("button");
  open.textContent = plan.planId.slice(0, 8);
  open.title = `show plan ${plan.planId}`;
  open.addEventListener("click", () => {
    showPlan(plan);
    say(`stored plan ${plan.planId}`);
  });
  const td = document.createElement("td");
  td.append(open);
  tr.append(td);
  return tr;
}

function pageTo(index: number): void {
  showPage(index).catch(fail);
}

// --- wiring ------------------------------------------------------------------------------------

resetInput();
ui.plan.addEventListener("click", () => void planOnce());
ui.watch.addEventListener("click", () => void watch());
ui.reset.addEventListener("click", resetInput);
ui.newer.addEventListener("click", () => pageTo(page - 1));
ui.older.addEventListener("click", () => pageTo(page + 1));
pageTo(0);
document.body.dataset.ready = "true";
