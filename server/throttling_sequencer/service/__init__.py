"""Use cases: plan, store, fetch and list plans. Knows the ports, not the adapters."""
