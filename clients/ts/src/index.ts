/**
 * The typed TypeScript client of throttling.v1: generated messages (gen/ts, `make gen`) called
 * through Connect. Pick a transport for where the code runs: `./node.js` (gRPC over HTTP/2) or
 * `./web.js` (gRPC-Web, for browsers and runtimes without HTTP/2 trailers).
 */
import { type Client, ConnectError, createClient, type Transport } from "@connectrpc/connect";

import { type BadRequest_FieldViolation, BadRequestSchema } from "../../../gen/ts/google/rpc/error_details_pb.js";
import { ThrottlingService } from "../../../gen/ts/throttling/v1/throttling_service_pb.js";

export * from "../../../gen/ts/throttling/v1/game_state_pb.js";
export * from "../../../gen/ts/throttling/v1/planning_pb.js";
export * from "../../../gen/ts/throttling/v1/throttling_service_pb.js";

export type ThrottlingClient = Client<typeof ThrottlingService>;

/** A client of every RPC, over the given transport. */
export function createThrottlingClient(transport: Transport): ThrottlingClient {
  return createClient(ThrottlingService, transport);
}

/** The offending fields of an INVALID_ARGUMENT error (its google.rpc.BadRequest detail). */
export function fieldViolations(error: unknown): BadRequest_FieldViolation[] {
  return ConnectError.from(error)
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations);
}
