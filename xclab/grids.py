"""Declarative grids: teacher ensembles, generators and students (methods x models x widths x seeds, with
parameter sweeps), expanded into cells with teacher -> student dependencies. Torch-free."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xclab.catalog import TASKS
from xclab.spec import MethodSpec, ModelSpec

BUILTIN_PACKAGE = "xclab.builtin_grids"
# Cells one grid may hold: creating, listing and cancelling a grid stay well under a second per thousand cells;
# larger studies are several grids. Documented in docs/reliability.md.
MAX_GRID_CELLS = 2_000


class RunDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recipe: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    epochs: int | None = Field(default=None, ge=1)


class EnsembleDef(RunDefaults):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    members: int = Field(ge=1, le=64, description="K: members trained from different seeds.")
    model: ModelSpec
    method: MethodSpec = Field(default_factory=lambda: MethodSpec(name="erm"))
    seed: int = Field(default=1000, ge=0, description="Member k trains with seed + k.")
    per_seed: bool = Field(
        default=False,
        description="One ensemble per student seed s, trained with overrides.split_seed = s; students of seed s "
        "distil from it. With tasks whose split follows the seed (gaze: the held-out persons), every seed "
        "draws a new split and no teacher ever saw its students' test data.",
    )


class GeneratorDef(RunDefaults):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    model: ModelSpec = Field(default_factory=lambda: ModelSpec(name="cgan"))
    seed: int = Field(default=0, ge=0)


class StudentMethod(BaseModel):
    """A method entry. `teachers` / `generator` name an ensemble / generator of the grid; any other field is a
    method parameter, and a list value sweeps it (one cell per value, cartesian over several lists)."""

    model_config = ConfigDict(extra="allow")
    name: str
    teachers: str | None = None
    generator: str | None = None
    label: str | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        pattern=r"^[^/\[\]]+$",
        description="Row name in cell keys and reports instead of the method name, e.g. to mark an upper bound.",
    )

    def sweeps(self) -> list[dict[str, Any]]:
        params = dict(self.model_extra or {})
        keys = sorted(k for k, v in params.items() if isinstance(v, list))
        fixed = {k: v for k, v in params.items() if k not in keys}
        combos = itertools.product(*(params[k] for k in keys)) if keys else [()]
        return [{**fixed, **dict(zip(keys, combo, strict=True))} for combo in combos]

    def swept_keys(self) -> list[str]:
        return sorted(k for k, v in (self.model_extra or {}).items() if isinstance(v, list))

    def sweep_size(self) -> int:
        """len(self.sweeps()), without building the cartesian product."""
        return math.prod(len(v) for v in (self.model_extra or {}).values() if isinstance(v, list))


class StudentsDef(RunDefaults):
    models: list[ModelSpec] = Field(min_length=1)
    widths: list[float] | None = Field(default=None, description="Width multipliers applied to every model.")
    methods: list[StudentMethod] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)


class GridDefinition(RunDefaults):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    task: str
    experiment: str | None = Field(default=None, description="Experiment name; default: the grid's name.")
    queue: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,64}$")
    priority: int = Field(
        default=0, ge=0, le=9, description="Of every run of the grid: 0 to 9 (most urgent)."
    )
    teachers: list[EnsembleDef] = Field(default_factory=list)
    generators: list[GeneratorDef] = Field(default_factory=list)
    students: StudentsDef | None = None

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASKS:
            raise ValueError(f"unknown task '{task}'; allowed: {', '.join(sorted(TASKS))}")
        return task

    @model_validator(mode="after")
    def _references_resolve(self) -> GridDefinition:
        per_seed = [e.name for e in self.teachers if e.per_seed]
        if per_seed and self.students is None:
            raise ValueError(f"ensembles {per_seed} are per_seed: they need students (and their seeds)")
        if per_seed and "split_seed" in self.overrides:
            raise ValueError(
                f"ensembles {per_seed} are per_seed (split_seed = each student seed); remove overrides.split_seed"
            )
        ensembles = {e.name for e in self.teachers}
        generators = {g.name for g in self.generators}
        if len(ensembles) != len(self.teachers) or len(generators) != len(self.generators):
            raise ValueError("ensemble and generator names must be unique within a grid")
        for method in self.students.methods if self.students else []:
            if method.teachers is not None and method.teachers not in ensembles:
                raise ValueError(
                    f"student method '{method.name}' names teachers '{method.teachers}', but the grid defines "
                    f"ensembles: {sorted(ensembles) or 'none'}"
                )
            if method.generator is not None and method.generator not in generators:
                raise ValueError(
                    f"student method '{method.name}' names generator '{method.generator}', but the grid defines "
                    f"generators: {sorted(generators) or 'none'}"
                )
        cells = cell_count(self)
        if cells == 0:
            raise ValueError("the grid has no cells: give it teachers, generators or students")
        if cells > MAX_GRID_CELLS:
            raise ValueError(
                f"the grid expands to {cells:,} cells; at most {MAX_GRID_CELLS:,} are accepted: split it into "
                "several grids (fewer seeds, widths or swept values each)"
            )
        return self


def cell_count(grid: GridDefinition) -> int:
    """How many cells `expand` would make, computed without making them."""
    splits = len(grid.students.seeds) if grid.students else 0
    count = sum(e.members * (splits if e.per_seed else 1) for e in grid.teachers) + len(grid.generators)
    if grid.students is not None:
        s = grid.students
        models = len(s.models) * (len(s.widths) if s.widths else 1)
        count += sum(m.sweep_size() for m in s.methods) * models * len(s.seeds)
    return count


@dataclass
class Cell:
    """One run of the grid. `teachers` and `generator` hold cell keys until the runs exist."""

    key: str
    role: str  # teacher | generator | student
    spec: dict[str, Any]
    teachers: list[str] = field(default_factory=list)
    generator: str | None = None

    @property
    def group(self) -> str:
        """The cell key without its seed: the unit that reports aggregate over."""
        return self.key.rsplit("/seed=", 1)[0]


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _run_fields(grid: GridDefinition, part: RunDefaults) -> dict[str, Any]:
    fields: dict[str, Any] = {"task": grid.task, "overrides": {**grid.overrides, **part.overrides}}
    recipe = part.recipe or grid.recipe
    if recipe:
        fields["recipe"] = recipe
    epochs = part.epochs or grid.epochs
    if epochs:
        fields["epochs"] = epochs
    return fields


def model_label(model: ModelSpec) -> str:
    options = "".join(f",{k}={_fmt(v)}" for k, v in sorted(model.options.items()))
    return f"{model.name}{options}@{_fmt(model.width)}"


def expand(grid: GridDefinition) -> list[Cell]:
    """Every cell, dependencies before dependents."""
    cells: list[Cell] = []
    seeds = grid.students.seeds if grid.students else []
    # (ensemble, student seed or None) -> member keys; None: one ensemble shared by every seed.
    members: dict[tuple[str, int | None], list[str]] = {}
    for ens in grid.teachers:
        for split in seeds if ens.per_seed else [None]:
            prefix = f"teacher/{ens.name}" + ("" if split is None else f"/split={split}")
            members[(ens.name, split)] = [f"{prefix}/{k}" for k in range(ens.members)]
            for k in range(ens.members):
                spec = {
                    **_run_fields(grid, ens),
                    "model": ens.model.model_dump(),
                    "method": ens.method.model_dump(),
                    "seed": ens.seed + k,
                }
                if split is not None:
                    spec["overrides"] = {**spec["overrides"], "split_seed": split}
                cells.append(Cell(f"{prefix}/{k}", "teacher", spec))
    for gen in grid.generators:
        spec = {
            **_run_fields(grid, gen),
            "model": gen.model.model_dump(),
            "method": {"name": "gan"},
            "seed": gen.seed,
        }
        cells.append(Cell(f"generator/{gen.name}", "generator", spec))
    if grid.students is None:
        return cells
    students = grid.students
    per_seed = {e.name for e in grid.teachers if e.per_seed}
    models = [
        m.model_copy(update={"width": w}) for m in students.models for w in (students.widths or [m.width])
    ]
    # Where a grid has several ensembles (or generators), a student's label names its own, so students of
    # different teachers never share a cell key or a report row.
    name_teachers, name_generator = len(grid.teachers) > 1, len(grid.generators) > 1
    for method in students.methods:
        swept = method.swept_keys()
        for params in method.sweeps():
            parts = [f"{k}={_fmt(params[k])}" for k in swept]
            if name_teachers and method.teachers:
                parts.append(f"teachers={method.teachers}")
            if name_generator and method.generator:
                parts.append(f"generator={method.generator}")
            label = (method.label or method.name) + ("[" + ",".join(parts) + "]" if parts else "")
            for model in models:
                for seed in students.seeds:
                    spec = {
                        **_run_fields(grid, students),
                        "model": model.model_dump(),
                        "method": {"name": method.name, **params},
                        "seed": seed,
                    }
                    cells.append(
                        Cell(
                            f"student/{label}/{model_label(model)}/seed={seed}",
                            "student",
                            spec,
                            teachers=members[(method.teachers, seed if method.teachers in per_seed else None)]
                            if method.teachers
                            else [],
                            generator=f"generator/{method.generator}" if method.generator else None,
                        )
                    )
    return cells


def builtin_grids() -> dict[str, str]:
    """Built-in grid files by name (file stem) -> YAML text."""
    folder = resources.files(BUILTIN_PACKAGE)
    return {p.name.removesuffix(".yaml"): p.read_text() for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_grid_text(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a grid file must hold a mapping with at least name, task and students or teachers")
    return data
