/**
 * The TypeScript client against a live server, over every transport given in the environment:
 *   THROTTLING_GRPC_URL      native gRPC (connect-node), e.g. http://127.0.0.1:50051
 *   THROTTLING_GRPC_WEB_URL  gRPC-Web (connect-web, fetch) through Envoy's grpc_web filter
 * tests/integration/test_ts_client.py starts the server and runs this file with
 * `node --import tsx --test`. Each transport runs the same calls and checks the same typed fields.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { create, equals } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";

import {
  type CreatePlanRequest,
  CreatePlanRequestSchema,
  createThrottlingClient,
  fieldViolations,
  PlanSchema,
  Strategy,
  type ThrottlingClient,
} from "../src/index.js";
import { grpcTransport } from "../src/node.js";
import { grpcWebTransport } from "../src/web.js";

const transports: Array<[string, () => Transport]> = [];
const grpcUrl = process.env.THROTTLING_GRPC_URL;
const grpcWebUrl = process.env.THROTTLING_GRPC_WEB_URL;
if (grpcUrl) transports.push(["gRPC", () => grpcTransport(grpcUrl)]);
if (grpcWebUrl) transports.push(["gRPC-Web", () => grpcWebTransport(grpcWebUrl)]);
if (transports.length === 0) {
  throw new Error("set THROTTLING_GRPC_URL and/or THROTTLING_GRPC_WEB_URL to a live server");
}

/** The earlier REST API's default payload: a unit at the origin, its target 5000 to the east. */
function request(mass = 10): CreatePlanRequest {
  return create(CreatePlanRequestSchema, {
    gameState: {
      playerUnits: [{ coordinate: { x: 0, y: 0 }, speed: 0, mass, friction: 0.01 }],
      enemyUnits: [{ coordinate: { x: 5000, y: 0 }, speed: 0, mass: 50, friction: 0.5 }],
    },
    options: { strategy: Strategy.RANDOM, seed: 5n, timeBudgetMs: 200 },
  });
}

function liveSuite(client: ThrottlingClient): void {
  test("CreatePlan answers a typed plan, and GetPlan returns it unchanged", async () => {
    const { plan } = await client.createPlan(request());
    assert.ok(plan, "the response carries a plan");
    assert.match(plan.planId, /^[0-9a-f-]{36}$/);
    assert.equal(plan.strategy, Strategy.RANDOM);
    assert.equal(plan.targetDistance, 5000);
    assert.ok(plan.goals.length > 0);
    for (const goal of plan.goals) {
      assert.deepEqual({ x: goal.coordinate?.x, y: goal.coordinate?.y }, { x: 5000, y: 0 });
      assert.ok(Number.isInteger(goal.throttle) && goal.throttle >= 0 && goal.throttle <= 300);
    }
    assert.equal(plan.score?.ticks, plan.goals.length);
    assert.equal(typeof plan.score?.total, "number");
    assert.ok(plan.createTime && timestampDate(plan.createTime).getTime() > 0);
    assert.equal(plan.options?.seed, 5n, "uint64 arrives as a bigint");

    const fetched = await client.getPlan({ planId: plan.planId });
    assert.ok(fetched.plan && equals(PlanSchema, fetched.plan, plan));
  });

  test("StreamThrottleSteps streams typed ticks, then done", async () => {
    const { gameState, options } = request();
    const ticks: number[] = [];
    let done: { planId: string; totalTicks: number } | undefined;
    for await (const message of client.streamThrottleSteps({ gameState, options })) {
      assert.equal(done, undefined, "nothing follows done");
      switch (message.event.case) {
        case "tick":
          ticks.push(message.event.value.tick);
          assert.equal(message.event.value.goal?.coordinate?.x, 5000);
          break;
        case "done":
          done = message.event.value;
          break;
        default:
          assert.fail(`unexpected event ${String(message.event.case)}`);
      }
    }
    assert.ok(done, "the stream ends with done");
    assert.equal(done.totalTicks, ticks.length);
    assert.deepEqual(ticks, ticks.map((_, index) => index + 1));
    assert.match(done.planId, /^[0-9a-f-]{36}$/);
  });

  test("StreamPlanProgress streams improvements, then the stored plan", async () => {
    const { gameState, options } = request();
    const totals: number[] = [];
    let last;
    for await (const message of client.streamPlanProgress({ gameState, options })) {
      last = message.event;
      if (message.event.case === "progress") totals.push(message.event.value.score?.total ?? NaN);
    }
    assert.equal(last?.case, "done");
    assert.ok(totals.length > 0, "at least one improvement before the final plan");
    assert.ok(totals.every((total, index) => index === 0 || total <= totals[index - 1]), `${totals}`);
    assert.equal((await client.getPlan({ planId: last.value.planId })).plan?.planId, last.value.planId);
  });

  test("invalid input is INVALID_ARGUMENT naming the field", async () => {
    const error = await client.createPlan(request(-1)).then(
      () => assert.fail("a negative mass was accepted"),
      (reason: unknown) => ConnectError.from(reason),
    );
    assert.equal(error.code, Code.InvalidArgument);
    assert.deepEqual(
      fieldViolations(error).map((violation) => violation.field),
      ["game_state.player_units[0].mass"],
    );
  });
}

for (const [name, transport] of transports) {
  describe(`over ${name}`, () => liveSuite(createThrottlingClient(transport())));
}
