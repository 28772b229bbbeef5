"""The project's exceptions, in one place: what a caller may catch, by what went wrong."""

from __future__ import annotations


class LakehouseError(Exception):
    """Base of the errors below."""


class SpecError(LakehouseError, ValueError):
    """A pipeline spec that does not validate; the message names file, key and expectation."""


class PipeContractError(LakehouseError, RuntimeError):
    """A pipe added or removed rows or columns: pipes only mark rows (see ``core/pipes/base.py``)."""


class QualityGateFailed(LakehouseError, RuntimeError):
    """The day did not pass its blocking checks (or its warnings, not accepted): nothing was published."""


class EmptyDayFailed(LakehouseError, RuntimeError):
    """The empty-day path of a stage (``spark/empty_day.py``) failed: its gate blocked, or it crashed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class LeaseLost(LakehouseError, RuntimeError):
    """The lease expired while held (heartbeats failed past the TTL) and another run took the day over."""


class DatasetError(LakehouseError, ValueError):
    """A dataset request that cannot be met: the message says what and why."""


class BackendUnavailable(LakehouseError, RuntimeError):
    """The configured embedding backend cannot run on this worker (no GPU, or its library is not installed)."""


class ServingIndexError(LakehouseError, RuntimeError):
    """The RAG serving index cannot answer: nothing synced yet, or chunks of another model than it holds."""


class ErasurePinned(LakehouseError, RuntimeError):
    """An erasure would break pinned versions (dataset tags, other tags): nothing changed without --force."""
