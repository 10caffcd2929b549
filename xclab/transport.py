"""Celery transport settings shared by the API (a producer) and the workers (consumers).

Transport only: run state lives in the database, reached through the REST API. Importing this module imports
Celery but no task code, so the API never loads the training engine."""

from __future__ import annotations

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

from xclab.settings import Settings, get_settings

# filesystem:// uses the hardened channel (xclab.fs_broker): a bad message file is dropped, not fatal.
TRANSPORT_ALIASES["filesystem"] = "xclab.fs_broker:Transport"

TASK_EXECUTE_RUN = "xclab.execute_run"
QUEUES = ("gpu", "cpu")
MAX_PRIORITY = 9


def broker_priority(priority: int) -> int:
    """A run's priority (0 default .. 9 most urgent) as the message priority kombu's Redis transport wants, where
    the lowest number is served first."""
    return MAX_PRIORITY - priority


def broker_options(settings: Settings) -> dict[str, object]:
    url = settings.resolved_broker_url
    if url.startswith("filesystem"):
        base = settings.broker_folder
        folders = {
            "data_folder_in": base / "queue",
            "data_folder_out": base / "queue",
            "control_folder": base / "control",
        }
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        return {**{k: str(v) for k, v in folders.items()}, "store_processed": False}
    # Redis redelivers an unacknowledged message after this long: it must exceed the longest run. One list per
    # priority level and queue, polled in priority order: an urgent run overtakes the ones already waiting. (The
    # filesystem broker has no priorities: it serves in submission order.)
    return {
        "visibility_timeout": settings.visibility_timeout_seconds,
        "priority_steps": list(range(MAX_PRIORITY + 1)),
        "sep": ":",
        "queue_order_strategy": "priority",
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("xclab", broker=settings.resolved_broker_url)
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue="cpu",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_heartbeat=0,
    )
    app.xclab_settings = settings  # type: ignore[attr-defined]
    return app
