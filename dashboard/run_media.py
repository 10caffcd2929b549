"""The run page's media: a generator's sample grids per epoch, a classifier's confusion matrix (from its stored
per-sample test predictions), the link from an XCL-GAN student to its generator, and the artifact tree."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.api import get_api
from dashboard.tables import human_bytes
from dashboard.ui import call, run_link

SAMPLES_FOLDER = "samples/"
PREDICTIONS = "predictions/test.json"
MAX_PREDICTIONS_BYTES = 32 * 1024 * 1024  # larger files are offered for download, not drawn
MAX_CLASSES = 200


# ------------------------------------------------------------ pure functions (tested without Streamlit)


def confusion_matrix(targets: list[int], predictions: list[int]) -> np.ndarray:
    """counts[true, predicted] over classes 0..max label seen."""
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    t, p = np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if len(t) and (t.min() < 0 or p.min() < 0):
        raise ValueError("class labels must be 0 or more")
    n = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    return counts


def confusion_figure(counts: np.ndarray, normalise: bool) -> go.Figure:
    rows = counts.sum(axis=1, keepdims=True)
    values = (
        np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0) * 100 if normalise else counts
    )
    labels = [str(i) for i in range(len(counts))]
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=labels,
            y=labels,
            colorscale="Blues",
            hovertemplate="true %{y} → predicted %{x}: %{z:.4~g}"
            + (" %" if normalise else "")
            + "<extra></extra>",
        )
    )
    side = min(700, 240 + 24 * len(counts))
    fig.update_layout(
        title="Confusion matrix (test split)" + (", % of each true class" if normalise else ", counts"),
        xaxis_title="predicted class",
        yaxis_title="true class",
        yaxis_autorange="reversed",
        height=side,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def sample_epochs(artifacts: list[dict[str, Any]]) -> dict[int, str]:
    """epoch -> artifact path of the run's samples/epoch_NNNN.png grids."""
    found = {}
    for artifact in artifacts:
        path = artifact["path"]
        name = path.removeprefix(SAMPLES_FOLDER)
        if path.startswith(SAMPLES_FOLDER) and name.startswith("epoch_") and name.endswith(".png"):
            digits = name.removeprefix("epoch_").removesuffix(".png")
            if digits.isdigit():
                found[int(digits)] = path
    return dict(sorted(found.items()))


def artifact_tree(artifacts: list[dict[str, Any]]) -> pd.DataFrame:
    """Folders (with the total size of what they hold) and files, depth first, indented by depth."""
    folders: dict[tuple[str, ...], int] = {}
    for artifact in artifacts:
        parts = tuple(artifact["path"].split("/"))
        for depth in range(1, len(parts)):
            folders[parts[:depth]] = folders.get(parts[:depth], 0) + int(artifact["size"])
    entries: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (tuple(a["path"].split("/")), {**a, "is_folder": False}) for a in artifacts
    ]
    entries += [
        (parts, {"path": "/".join(parts) + "/", "size": size, "is_folder": True})
        for parts, size in folders.items()
    ]
    # A folder sorts before its contents (a prefix sorts first), siblings by name.
    entries.sort(key=lambda e: e[0] + (("",) if e[1]["is_folder"] else ()))
    rows = []
    for parts, entry in entries:
        indent = "\u2003" * (len(parts) - 1)
        name = parts[-1] + ("/" if entry["is_folder"] else "")
        rows.append(
            {
                "name": f"{indent}{'📁 ' if entry['is_folder'] else ''}{name}",
                "path": entry["path"],
                "kind": "folder" if entry["is_folder"] else entry.get("kind", ""),
                "size": human_bytes(entry["size"]),
                "sha256": entry.get("sha256", ""),
                "url": entry.get("url"),
            }
        )
    return pd.DataFrame(rows, columns=["name", "path", "kind", "size", "sha256", "url"])


# ------------------------------------------------------------ sections


def _artifact_bytes(run_id: int, artifact: dict[str, Any]) -> bytes:
    """An artifact's bytes, kept in the session by checksum: a live page refreshes often, the bytes never change."""
    cache: dict[str, bytes] = st.session_state.setdefault("run_artifact_cache", {})
    key = f"{run_id}:{artifact['path']}:{artifact['sha256']}"
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        cache[key] = call(get_api().read_artifact, run_id, artifact["path"])
    return cache[key]


def generator_link(run: dict[str, Any]) -> None:
    generator = (run.get("spec") or {}).get("method", {}).get("generator_run")
    if generator is not None:
        st.markdown("**Generator**")
        run_link(int(generator), f"Generator run #{generator} (its samples are on its page)")


def samples(run: dict[str, Any]) -> None:
    grids = sample_epochs(run["artifacts"])
    if not grids:
        return
    st.markdown("#### Generator samples")
    epochs = list(grids)
    epoch = epochs[-1]
    if len(epochs) > 1:
        epoch = st.select_slider("Epoch", epochs, value=epochs[-1], key=f"run_samples_epoch_{run['id']}")
    by_path = {a["path"]: a for a in run["artifacts"]}
    st.image(
        _artifact_bytes(run["id"], by_path[grids[epoch]]),
        caption=f"epoch {epoch}: one row per class, the same noise every epoch",
    )


def confusion(run: dict[str, Any]) -> None:
    artifact = next((a for a in run["artifacts"] if a["path"] == PREDICTIONS), None)
    if artifact is None:
        return
    if artifact["size"] > MAX_PREDICTIONS_BYTES:
        st.caption(f"{PREDICTIONS} is {human_bytes(artifact['size'])}: too large to draw here.")
        return
    stored = json.loads(_artifact_bytes(run["id"], artifact))
    if "targets" not in stored or "predictions" not in stored:
        return  # a regression run: per-sample errors, no classes
    try:
        counts = confusion_matrix(stored["targets"], stored["predictions"])
    except ValueError as err:
        st.warning(f"{PREDICTIONS} could not be read: {err}", icon=":material/warning:")
        return
    if len(counts) > MAX_CLASSES:
        st.caption(f"{len(counts)} classes: too many for a confusion matrix here.")
        return
    st.markdown("#### Confusion matrix")
    shown = st.radio(
        "Cells show",
        ["% of each true class", "counts"],
        horizontal=True,
        key=f"run_confusion_norm_{run['id']}",
    )
    normalise = shown != "counts"
    st.plotly_chart(confusion_figure(counts, normalise), key="run_confusion")
    accuracy = np.trace(counts) / max(1, counts.sum()) * 100
    st.caption(f"{int(counts.sum()):,} test samples · {accuracy:.2f} % on the diagonal")


def artifacts(run: dict[str, Any]) -> None:
    if not run["artifacts"]:
        st.caption("No artifacts yet.")
        return
    st.dataframe(
        artifact_tree(run["artifacts"]),
        hide_index=True,
        column_config={
            "path": None,
            "url": st.column_config.LinkColumn(
                "link",
                display_text="download",
                help="Direct API link (needs no token unless reads require one)",
            ),
        },
    )
    api = get_api()
    for artifact in run["artifacts"]:
        st.download_button(
            f"Download {artifact['path']}",
            data=partial(api.read_artifact, run["id"], artifact["path"]),  # fetched only on click
            file_name=artifact["path"].rsplit("/", 1)[-1],
            mime="application/octet-stream",
            on_click="ignore",
            key=f"run_artifact_{artifact['path']}",
            icon=":material/download:",
        )


def media(run: dict[str, Any]) -> None:
    samples(run)
    confusion(run)
