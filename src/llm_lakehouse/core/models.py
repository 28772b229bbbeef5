"""The base of every declared model: spec sections, pipe parameters, PII policies, quality rules."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo in a spec fails at load with its key; values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NamedStep(StrictModel):
    """A step of a declared chain: a registered name (``pipe``) and its parameters, which the named class
    checks (``{pipe: normalize, form: NFC}``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    pipe: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
