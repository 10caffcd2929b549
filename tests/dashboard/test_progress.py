"""Run progress: epoch x/N, elapsed time and an ETA from the finished epochs."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.progress import duration, progress_text, run_progress

NOW = datetime(2026, 1, 1, 12, 10, tzinfo=UTC)


def _run(status: str = "running", **extra: object) -> dict:
    return {"status": status, "hparams": {"epochs": 10}, "started_at": "2026-01-01T12:00:00Z", **extra}


def test_eta_assumes_the_remaining_epochs_take_as_long_as_the_done_ones() -> None:
    p = run_progress(_run(), last_epoch=4, now=NOW)  # 4 epochs in 10 minutes
    assert (p.epoch, p.epochs, p.elapsed_s, p.eta_s, p.fraction) == (4, 10, 600.0, 900.0, 0.4)
    assert progress_text(p) == "epoch 4/10 · 10m 00s elapsed · ETA 15m 00s"


def test_no_eta_before_the_first_epoch_or_after_the_run() -> None:
    assert run_progress(_run(), last_epoch=None, now=NOW).eta_s is None
    done = run_progress(_run("succeeded", finished_at="2026-01-01T12:05:00Z"), last_epoch=10, now=NOW)
    assert (done.elapsed_s, done.eta_s, done.fraction) == (300.0, None, 1.0)
    queued = run_progress({"status": "queued", "hparams": {}, "spec": {"epochs": 3}}, None, NOW)
    assert (queued.epochs, queued.elapsed_s) == (3, None)
    assert progress_text(queued) == "epoch 0/3 · – elapsed"


def test_durations_read_like_a_clock() -> None:
    assert [duration(s) for s in (None, 5, 75, 4000)] == ["–", "5s", "1m 15s", "1h 06m"]
