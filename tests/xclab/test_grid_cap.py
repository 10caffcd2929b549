"""The grid cell cap: counted without expanding, equal to what expansion makes, refused past the cap."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from xclab.grids import MAX_GRID_CELLS, GridDefinition, builtin_grids, cell_count, expand, load_grid_text


@pytest.mark.parametrize("name", sorted(builtin_grids()))
def test_cell_count_matches_expansion(name: str) -> None:
    grid = GridDefinition.model_validate(load_grid_text(builtin_grids()[name]))
    assert cell_count(grid) == len(expand(grid))


def _grid(seeds: int, swept: int = 1) -> dict:
    return {
        "name": "big",
        "task": "digits",
        "teachers": [{"name": "ens", "members": 4, "model": {"name": "small-cnn"}}],
        "students": {
            "models": [{"name": "small-cnn"}],
            "seeds": list(range(seeds)),
            "methods": [
                {"name": "kd", "teachers": "ens", "temperature": [float(t + 1) for t in range(swept)]}
            ],
        },
    }


def test_a_grid_past_the_cap_is_refused_with_the_count() -> None:
    ok = GridDefinition.model_validate(_grid(seeds=MAX_GRID_CELLS - 4))
    assert cell_count(ok) == MAX_GRID_CELLS
    with pytest.raises(ValidationError, match="2,001 cells"):
        GridDefinition.model_validate(_grid(seeds=MAX_GRID_CELLS - 3))
    # A cartesian sweep is counted without being built: 10^3 seeds x 10^3 values is refused at once.
    with pytest.raises(ValidationError, match="1,000,004 cells"):
        GridDefinition.model_validate(_grid(seeds=1000, swept=1000))
