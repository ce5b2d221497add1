"""Bridges in front of the gRPC server: Envoy (REST transcoding, one front door) and GraphQL."""
