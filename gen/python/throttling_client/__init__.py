"""Typed betterproto2 client for throttling.v1 (generated)."""
