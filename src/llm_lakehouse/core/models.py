"""The base of every declared model: spec sections, pipe parameters, PII policies, quality rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo in a spec fails at load with its key; values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
