"""Nothing stuck: a run whose worker went silent is re-queued as its next attempt (bounded), and a queued run
whose broker message vanished is published again after a grace period; real databases, real filesystem broker."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from backend.models import Metric
from backend.requeue import LostRunSweeper, broker_task_ids
from backend.store import lifecycle, metrics, runs
from tests.backend.store.factories import make_run
from tests.support import REDIS_URL, digits_spec
from xclab.settings import Settings
from xclab.transport import TASK_EXECUTE_RUN, create_celery


def test_a_silent_workers_run_is_requeued_until_the_attempts_run_out(session: Session) -> None:
    run_id = make_run(session)
    for attempt in (1, 2):
        lifecycle.claim_run(session, run_id, f"ghost{attempt}", attempt, token_id=None)
        metrics.log_metrics(session, run_id, [metrics.MetricPoint("loss", s, 1.0 / attempt) for s in (1, 2)])
        session.commit()
        failed, requeued = lifecycle.fail_stale_runs(session, -1, max_attempts=3)
        session.commit()
        assert failed == [] and [r.id for r in requeued] == [run_id]
        run = runs.get_run(session, run_id)
        assert run.status == "queued" and run.attempt == attempt + 1 and run.claim_token_id is None
        assert f"ghost{attempt} stopped heartbeating" in run.error
    lifecycle.claim_run(session, run_id, "ghost3", 3)
    session.commit()
    failed, requeued = lifecycle.fail_stale_runs(session, -1, max_attempts=3)
    session.commit()
    assert failed == [run_id] and requeued == []
    run = runs.get_run(session, run_id)
    assert run.status == "failed" and "after 3 attempts" in run.error
    # Each attempt rewrote the same steps: the history holds each step once, with the last attempt's values.
    assert session.query(Metric).filter_by(run_id=run_id).count() == 2


def test_a_queued_run_missing_from_the_broker_is_published_again(session: Session, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", _env_file=None)
    celery = create_celery(settings)
    run_id = make_run(session)
    run = runs.get_run(session, run_id)
    run.celery_task_id = celery.send_task(TASK_EXECUTE_RUN, args=[run_id, 1], queue="cpu").id
    session.commit()
    assert broker_task_ids(celery, settings, ["cpu"]) == {run.celery_task_id}
    sweeper = LostRunSweeper(grace_seconds=30)
    assert sweeper.sweep(session, celery, settings, now=0) == []  # present: nothing to do
    for message in (settings.broker_folder / "queue").glob("*.msg"):
        message.unlink()  # the message is lost
    assert sweeper.sweep(session, celery, settings, now=100) == []  # missing: the grace starts
    assert sweeper.sweep(session, celery, settings, now=120) == []  # a worker may be about to claim it
    assert sweeper.sweep(session, celery, settings, now=131) == [run_id]
    session.commit()
    assert broker_task_ids(celery, settings, ["cpu"]) == {runs.get_run(session, run_id).celery_task_id}
    assert sweeper.sweep(session, celery, settings, now=200) == []  # back in the broker


def test_redis_queues_are_inspected_too(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", broker_url=REDIS_URL.rsplit("/", 1)[0] + "/14", _env_file=None
    )
    celery = create_celery(settings)
    queue = f"requeue-test-{tmp_path.name}"
    with celery.connection_for_write() as conn:
        conn.default_channel.client.delete(queue)
    task_id = celery.send_task(TASK_EXECUTE_RUN, args=[1, 1], queue=queue).id
    try:
        assert task_id in broker_task_ids(celery, settings, [queue])  # type: ignore[operator]
    finally:
        with celery.connection_for_write() as conn:
            conn.default_channel.client.delete(queue)


def test_a_presumed_dead_worker_that_comes_back_cannot_report_on_the_new_attempt(
    api, session: Session
) -> None:  # type: ignore[no-untyped-def]
    exp = api.post("/api/v1/experiments", json={"name": "back"}).json()["id"]
    run_id = api.post("/api/v1/runs", json={"experiment_id": exp, "spec": digits_spec(epochs=1)}).json()["id"]
    assert (
        api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "old", "attempt": 1}).status_code == 200
    )
    _, requeued = lifecycle.fail_stale_runs(session, -1, max_attempts=3)
    session.commit()
    assert [r.id for r in requeued] == [run_id]
    assert (
        api.post(f"/api/v1/runs/{run_id}/claim", json={"worker_host": "new", "attempt": 2}).status_code == 200
    )
    stale_beat = api.post(f"/api/v1/runs/{run_id}/heartbeat", params={"attempt": 1})
    assert stale_beat.status_code == 409 and "attempt 2" in stale_beat.json()["detail"]
    stale_finish = api.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded", "attempt": 1})
    assert stale_finish.status_code == 409
    assert api.post(f"/api/v1/runs/{run_id}/heartbeat", params={"attempt": 2}).status_code == 200
    done = api.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded", "attempt": 2})
    assert done.json()["status"] == "succeeded" and done.json()["error"] is None
