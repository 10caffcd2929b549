"""Per-sample test predictions stored by the engine as a run artifact, for McNemar tests between rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.artifact_files import run_folder
from backend.reports.comparisons import PredictionsLoader

PREDICTIONS_ARTIFACT = "predictions/test.json"


def artifact_predictions(artifact_root: Path) -> PredictionsLoader:
    """A loader of each run's stored test predictions (None where a run stored none or an unreadable file)."""

    def load(run: Any) -> dict[str, Any] | None:
        file = run_folder(artifact_root, run.id) / PREDICTIONS_ARTIFACT
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("predictions"), list):
            return None
        return data

    return load
