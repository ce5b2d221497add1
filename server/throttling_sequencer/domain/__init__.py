"""Pure domain: what a plan is, how it is scored, and the ports adapters implement."""
