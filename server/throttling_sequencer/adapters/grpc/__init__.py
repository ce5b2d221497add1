"""The gRPC edge: servicer, wire validation, mappers, error mapping, interceptors, server."""
