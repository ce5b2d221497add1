"""Throttling Sequencer: plans throttle sequences that bring a unit to its target.

Layout (dependencies point inward):
    domain/    pure model, physics and score, errors, ports (no gRPC, ORM or DI)
    service/   use cases over the ports
    adapters/  grpc (the edge), storage (Tortoise, in-memory), planners (strategies)
    container  the one composition root (punq): every component, built from settings
"""
