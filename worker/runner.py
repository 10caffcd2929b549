"""Executes one run for the Celery task: claim, train with heartbeats, metric and console streaming and system
metrics, upload, finish."""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import traceback
from pathlib import Path
from typing import Any

from worker import resume
from worker.console import ConsoleCapture, attempt_first_seq
from xclab.client import ApiClient, ApiError
from xclab.metric_batcher import MetricBatcher
from xclab.settings import Settings
from xclab.spec import RunSpec

log = logging.getLogger(__name__)
# {"targets": [int], "predictions": [int]} (classification) or {"errors": [float]} (regression), test split.
PREDICTIONS_ARTIFACT = "predictions/test.json"
EPOCH_LINE_KEYS = {
    "train_loss",
    "val_top1",
    "test_top1",
    "val_loss",
    "gan_d_loss",
    "gan_g_loss",
    "epoch_seconds",
}
SAMPLES_FOLDER = "samples"  # a generator run's sample grids, samples/epoch_0003.png


class Heartbeat(threading.Thread):
    """Pings the API in the background; sets `cancelled` when the user asked to stop the run."""

    def __init__(self, client: ApiClient, run_id: int, interval: float, attempt: int | None = None) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.client, self.run_id, self.interval, self.attempt = client, run_id, interval, attempt
        self.cancelled = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                answer = self.client.heartbeat_run(self.run_id, self.attempt)
            except ApiError as exc:
                if exc.status_code == 409:  # no longer running on the server: stop working on it
                    self.cancelled.set()
                    return
                # The API stayed unreachable through the client's retries: keep training, try next beat.
                log.warning("heartbeat for run %s failed: %s", self.run_id, exc)
                continue
            if answer["cancel_requested"]:
                self.cancelled.set()
                return

    def stop(self) -> None:
        self._halt.set()


def execute_run(run_id: int, attempt: int | None, settings: Settings, node: str | None = None) -> str:
    """Returns the final status (or 'skipped' when the run was not ours to execute). `node`: the worker's name
    (Celery's node name), recorded with a resume."""
    with ApiClient.from_settings(settings) as client:
        try:
            run = client.claim_run(run_id, socket.gethostname(), attempt)
        except ApiError as exc:
            if exc.status_code in {404, 409}:
                log.info("run %s not executed: %s", run_id, exc.detail)
                return "skipped"
            raise
        heartbeat = Heartbeat(client, run_id, settings.heartbeat_seconds, run["attempt"])
        heartbeat.start()
        # The console is shipped until the run's outcome is known (the traceback of a failure included), and
        # stored before the run is finished: a finished run is final.
        console = ConsoleCapture(client, run_id, first_seq=attempt_first_seq(run["attempt"])).start()
        try:
            status, error = _train_and_report(client, run, settings, heartbeat, node)
        finally:
            heartbeat.stop()
            console.stop()
        client.finish_run(run_id, status, error, run["attempt"])
        return status


def fetch_checkpoint(client: ApiClient, run_id: int, settings: Settings) -> Path:
    """Download a finished run's model.pt into this node's cache (verified by sha256), once per node."""
    return resume.fetch_checkpoint(client, run_id, settings.resolved_cache_dir)


def _train_and_report(
    client: ApiClient, run: dict[str, Any], settings: Settings, heartbeat: Heartbeat, node: str | None = None
) -> tuple[str, str | None]:
    # Torch is imported here, in the pool process, never in the worker parent (CUDA is not fork-safe).
    import torch

    from worker.system_metrics import SystemMonitor
    from worker.training.hooks import CHECKPOINT_FILE
    from worker.training.media import sample_grid_png
    from worker.training.trainer import Cancelled, Hooks, train

    if settings.torch_threads:  # the process's default; a run pins its own (its `threads` hyperparameter)
        torch.set_num_threads(settings.torch_threads)

    run_id, attempt = run["id"], run["attempt"]
    workdir = settings.home.resolve() / "work" / str(run_id)

    # The same batching client as `xclab.track`: an epoch's end never waits on the API.
    metrics = MetricBatcher(client, run_id)
    # Where this attempt's checkpoint came from; with the epoch it resumed at, part of the run's environment.
    origin: dict[str, Any] = {"attempt": attempt, "worker": node or socket.gethostname()}

    class ReportingHooks(Hooks):
        environment: dict[str, Any] | None = None

        def on_epoch_end(self, epoch: int, values: dict[str, float]) -> None:
            metrics.log(values, epoch)
            # One console line per epoch (the run page's live console follows these).
            shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()) if k in EPOCH_LINE_KEYS)
            log.info("run %s epoch %d/%s: %s", run_id, epoch, run["hparams"].get("epochs", "?"), shown)

        def on_environment(self, environment: dict[str, Any]) -> None:
            self.environment = environment
            resumed = {"resume": origin} if {"from_epoch", "refused_upload"} & set(origin) else {}
            client.set_run_environment(run_id, {**environment, **resumed})

        def on_resume(self, epoch: int) -> None:
            origin["from_epoch"] = epoch
            log.info(
                "run %s resumed at epoch %s on %s (%s checkpoint)",
                run_id,
                epoch,
                origin["worker"],
                origin["source"],
            )
            if self.environment is not None:
                self.on_environment(self.environment)

        def on_checkpoint(self, path: Path, epoch: int) -> None:
            # Synchronous: the next checkpoint cannot overwrite the file while it is being read; its cost is
            # one upload per `checkpoint_every` epochs.
            if resume.upload_checkpoint(client, run_id, attempt, path):
                log.info("run %s: checkpoint of epoch %s uploaded", run_id, epoch)

        def should_stop(self) -> bool:
            return heartbeat.cancelled.is_set()

        def on_samples(self, epoch: int, images: torch.Tensor) -> None:
            # A generator's samples at this epoch, as a PNG grid artifact the run page shows.
            path = workdir / SAMPLES_FOLDER / f"epoch_{epoch:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sample_grid_png(images))
            try:  # a picture for the run page: its failure must not fail the run
                client.upload_artifact(
                    run_id, f"{SAMPLES_FOLDER}/{path.name}", path, kind="samples", attempt=attempt
                )
            except ApiError as exc:
                log.warning("run %s: samples of epoch %s not uploaded: %s", run_id, epoch, exc)

    monitor = SystemMonitor(metrics, settings.system_metrics_seconds)
    try:
        spec = RunSpec.model_validate(run["spec"])
        origin.update(resume.restore_checkpoint(client, run, workdir / CHECKPOINT_FILE))
        teacher_paths = [fetch_checkpoint(client, t, settings) for t in run["teachers"]]
        generator_run = spec.method.params.get("generator_run")
        generator_path = (
            fetch_checkpoint(client, generator_run, settings) if generator_run is not None else None
        )
        log.info(
            "run %s attempt %s: %s / %s / %s, seed %s",
            run_id,
            run["attempt"],
            spec.task,
            spec.model.name,
            spec.method.name,
            spec.seed,
        )
        monitor.start()
        result = train(
            spec,
            run["hparams"],
            workdir,
            hooks=ReportingHooks(),
            teacher_paths=teacher_paths,
            generator_path=generator_path,
            # The worker's own folders; a spec naming data_root/data_path/cache_dir still wins.
            data_root=settings.data_root,
            cache_dir=settings.resolved_cache_dir,
        )
        monitor.stop()
        metrics.log(result.final_metrics, int(run["hparams"]["epochs"]))
        metrics.close()  # every point stored (or the error raised) before the run can succeed
        client.upload_artifact(run_id, "model.pt", result.model_path, kind="checkpoint")
        if result.predictions_path is not None:  # per-sample test results, for paired tests between runs
            client.upload_artifact(run_id, PREDICTIONS_ARTIFACT, result.predictions_path, kind="predictions")
    except Cancelled:
        monitor.stop()
        _deliver(metrics, run_id)
        return "cancelled", None
    except Exception as exc:
        log.error("run %s failed:\n%s", run_id, traceback.format_exc())
        monitor.stop()
        _deliver(metrics, run_id)
        return "failed", f"{type(exc).__name__}: {exc}"
    shutil.rmtree(workdir, ignore_errors=True)  # the checkpoint now lives in the artifact store
    return "succeeded", None


def _deliver(metrics: MetricBatcher, run_id: int) -> None:
    """Store what an ended run logged (its curves up to the failure), without letting that hide the outcome."""
    try:
        metrics.close(timeout=60)
    except Exception as exc:
        log.warning("run %s: metrics logged before it ended were not all stored: %s", run_id, exc)
