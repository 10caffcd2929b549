"""How runs are named on charts and in synthetic cells: model labels, method labels with the parameters that
differ from the catalog's defaults."""

from __future__ import annotations

from typing import Any

from backend.models import Run
from backend.vocabulary import method_info
from xclab.grids import model_label as spec_model_label
from xclab.spec import ModelSpec


def fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def model_label(run: Run) -> str:
    """The grid's label of the run's model (`small-cnn,binary=True@0.5`), else its registry name."""
    try:
        return spec_model_label(ModelSpec.model_validate(run.spec.get("model", {})))
    except ValueError:
        return run.model


def method_params(run: Run) -> dict[str, Any]:
    """The method's resolved parameters, without the generator run id (an id, not a setting)."""
    params = (run.hparams or {}).get("method_params") or run.spec.get("method", {})
    return {k: v for k, v in params.items() if k not in {"name", "generator_run"} and v is not None}


def method_label(run: Run) -> str:
    """The method with the parameters that differ from the catalog's defaults: `kd[temperature=4]`."""
    info = method_info(run.method)
    defaults = info.params if info else {}
    changed = {k: v for k, v in method_params(run).items() if defaults.get(k) != v}
    inner = ",".join(f"{k}={fmt(changed[k])}" for k in sorted(changed))
    return run.method + (f"[{inner}]" if inner else "")
