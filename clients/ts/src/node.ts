/** Node: native gRPC over HTTP/2 (plaintext h2c for http:// URLs, TLS for https://). */
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

export function grpcTransport(baseUrl: string): Transport {
  return createGrpcTransport({ baseUrl });
}
