"""What one delivery attempt says, and the one-method interface every transport implements."""

from __future__ import annotations

import dataclasses
import enum
from typing import Protocol

from heliograph.model.record import Record

__all__ = ["Outcome", "OutcomeKind", "Transport"]


class OutcomeKind(enum.Enum):
    DELIVERED = "delivered"  # the endpoint has it: acknowledge
    RETRY = "retry"  # try again later: keep it
    REJECTED = "rejected"  # the endpoint will never take it: dead-letter and acknowledge


@dataclasses.dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    status: int | None = None
    detail: str = ""
    retry_after_s: float | None = None
    response_text: str = ""

    @classmethod
    def delivered(cls, status: int = 200) -> Outcome:
        return cls(OutcomeKind.DELIVERED, status)

    @classmethod
    def retry(
        cls, detail: str, status: int | None = None, retry_after_s: float | None = None
    ) -> Outcome:
        return cls(OutcomeKind.RETRY, status, detail, retry_after_s)

    @classmethod
    def rejected(cls, detail: str, status: int | None = None, response_text: str = "") -> Outcome:
        return cls(OutcomeKind.REJECTED, status, detail, response_text=response_text)


class Transport(Protocol):
    """Sends one record, once, and says what happened. Never raises."""

    def send(self, record: Record) -> Outcome: ...

    def close(self) -> None: ...
