"""What the storage side reports about itself: its kind, and the outbox backlog and poisoned
plans if there is an outbox."""

from __future__ import annotations

from dataclasses import dataclass

from throttling_sequencer.adapters.storage.outbox import OutboxRepository


@dataclass(frozen=True, slots=True)
class StorageStatus:
    storage: str
    outbox: OutboxRepository | None = None

    @property
    def pending_writes(self) -> int:
        return self.outbox.pending if self.outbox is not None else 0

    @property
    def poisoned_writes(self) -> int:
        return self.outbox.poisoned if self.outbox is not None else 0

    @property
    def max_write_delay(self) -> float:
        return self.outbox.max_write_delay if self.outbox is not None else 0.0
