/** Browsers (and any runtime with fetch): gRPC-Web through Envoy's grpc_web filter. */
import type { Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

export function grpcWebTransport(baseUrl: string): Transport {
  return createGrpcWebTransport({ baseUrl });
}
