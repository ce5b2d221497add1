"""Adapters: the gRPC edge, plan storage, and planning strategies."""
