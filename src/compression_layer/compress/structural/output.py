"""What every structural pass returns."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StructuralOutput(BaseModel):
    """What a structural pass returns: the text, the checks it passed and what it gave up."""

    text: str
    checks: dict[str, bool] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
