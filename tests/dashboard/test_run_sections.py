"""The run page's pure functions, without Streamlit: confusion matrix, artifact tree, sample epochs, the console's tail
and traceback, and the system charts."""

from __future__ import annotations

import pytest

from dashboard.run_console import TAIL_CHARS, ConsoleState, last_traceback
from dashboard.run_media import artifact_tree, confusion_matrix, sample_epochs
from dashboard.run_system import system_figures


def test_confusion_matrix_counts_true_by_predicted() -> None:
    counts = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2])
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert confusion_matrix([], []).shape == (0, 0)
    with pytest.raises(ValueError, match="3 targets but 2"):
        confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="0 or more"):
        confusion_matrix([0, -1], [0, 0])


def test_artifact_tree_nests_files_under_folders_with_total_sizes() -> None:
    artifacts = [
        {"path": "samples/epoch_0002.png", "kind": "samples", "size": 1024, "sha256": "b", "url": "u2"},
        {"path": "model.pt", "kind": "checkpoint", "size": 3 * 1024 * 1024, "sha256": "a", "url": "u1"},
        {"path": "samples/epoch_0001.png", "kind": "samples", "size": 2048, "sha256": "c", "url": "u3"},
        {"path": "predictions/test.json", "kind": "predictions", "size": 10, "sha256": "d", "url": "u4"},
    ]
    tree = artifact_tree(artifacts)
    assert tree["path"].tolist() == [
        "model.pt",
        "predictions/",
        "predictions/test.json",
        "samples/",
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
    ]
    rows = tree.set_index("path")
    assert rows.loc["samples/", "size"] == "3.0 KiB" and rows.loc["samples/", "kind"] == "folder"
    assert rows.loc["model.pt", "size"] == "3.0 MiB" and rows.loc["predictions/test.json", "size"] == "10 B"
    assert rows.loc["samples/epoch_0001.png", "name"] == "\u2003epoch_0001.png"  # indented under its folder
    assert rows.loc["samples/", "name"] == "📁 samples/"


def test_sample_epochs_reads_only_well_named_grids() -> None:
    paths = ["samples/epoch_0010.png", "samples/epoch_0002.png", "samples/notes.txt", "other/epoch_0001.png"]
    assert sample_epochs([{"path": p} for p in paths]) == {
        2: "samples/epoch_0002.png",
        10: "samples/epoch_0010.png",
    }


def test_console_keeps_the_tail_and_follows_the_cursor() -> None:
    state = ConsoleState()
    state.add(
        {
            "chunks": [{"text": "a\n"}, {"text": "b\n"}],
            "next_after_seq": 1,
            "total_bytes": 4,
            "truncated": False,
        }
    )
    state.add({"chunks": [], "next_after_seq": 1, "total_bytes": 4, "truncated": False})
    assert (state.text, state.after_seq, state.chunks) == ("a\nb\n", 1, 2)
    state.add(
        {"chunks": [{"text": "x" * TAIL_CHARS}], "next_after_seq": 2, "total_bytes": 9, "truncated": True}
    )
    assert len(state.text) == TAIL_CHARS and state.truncated


def test_last_traceback_ends_at_the_exception_line() -> None:
    text = (
        "epoch 1\nTraceback (most recent call last):\n  old\nKeyError: 1\nmore\n"
        "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    raise ValueError('no')\n"
        "ValueError: no\n[2026] INFO after\n"
    )
    assert last_traceback(text) == (
        "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    raise ValueError('no')\nValueError: no"
    )
    assert last_traceback("all fine\n") is None


def test_system_figures_one_per_unit_with_points() -> None:
    points = [{"step": 1_800_000_000, "value": 1.0}, {"step": 1_800_000_010, "value": 2.0}]
    later = [{"step": 1_800_000_005, "value": 300.0}]
    figures = system_figures({"system/cpu_percent": points, "system/rss_mb": later, "system/gpu_util": []})
    assert [f.layout.title.text for f in figures] == ["CPU", "Memory"]
    assert figures[0].layout.xaxis.title.text == "seconds since start"
    assert list(figures[0].data[0].x) == [0, 10] and list(figures[1].data[0].x) == [5]  # one clock for all
