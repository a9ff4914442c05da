"""The phase template: data shipped with the package, validated when loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydantic import BaseModel, Field, field_validator

PHASE_COUNT = 14


class TemplateError(ValueError):
    """A template that cannot drive a workflow."""


class PhaseSpec(BaseModel, frozen=True):
    number: int = Field(ge=1, le=PHASE_COUNT)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    description: str
    guidance: str
    depends_on: tuple[int, ...] = ()


class Template(BaseModel, frozen=True):
    key: str
    version: int = Field(ge=1)
    title: str
    phases: tuple[PhaseSpec, ...]

    @field_validator("phases")
    @classmethod
    def _check_phases(cls, phases: tuple[PhaseSpec, ...]) -> tuple[PhaseSpec, ...]:
        numbers = [p.number for p in phases]
        if numbers != list(range(1, PHASE_COUNT + 1)):
            raise TemplateError(f"phases must be numbered 1..{PHASE_COUNT} in order")
        if len({p.key for p in phases}) != len(phases):
            raise TemplateError("phase keys must be unique")
        for phase in phases:
            # Only earlier phases: this forbids forward references and so every cycle.
            bad = [d for d in phase.depends_on if not 1 <= d < phase.number]
            if bad:
                raise TemplateError(f"phase {phase.number} depends on {bad}: not earlier phases")
        return phases

    def phase(self, number: int) -> PhaseSpec:
        return self.phases[number - 1]

    def dependants(self, number: int) -> list[int]:
        """Every phase that builds on `number`, directly or transitively, in order."""
        found: set[int] = set()
        for phase in self.phases:
            if number in phase.depends_on or found.intersection(phase.depends_on):
                found.add(phase.number)
        return sorted(found)


@dataclass(frozen=True, slots=True)
class TemplateRef:
    key: str
    version: int


@cache
def default_template() -> Template:
    text = resources.files("server.workflow").joinpath("default_template.json").read_text()
    return Template.model_validate(json.loads(text))
