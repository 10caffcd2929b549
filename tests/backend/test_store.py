"""The store on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.db import SchemaOutOfDate, make_engine, verify_schema
from backend.errors import Conflict, Invalid, NotFound
from backend.models import Metric
from backend.store import experiments, lifecycle, metrics, run_list, runs
from tests.support import digits_spec
from xclab.spec import RunSpec


def _run(session: Session, **spec_overrides: object) -> int:
    exp = experiments.create_experiment(session, f"exp-{len(experiments.list_experiments(session))}", "")
    run = runs.create_run(session, exp.id, RunSpec.model_validate(digits_spec(**spec_overrides)), "cpu")
    session.commit()
    return run.id


def test_same_metric_batch_twice_is_stored_once(session: Session) -> None:
    run_id = _run(session)
    batch = [metrics.MetricPoint("loss", s, 1.0 / (s + 1)) for s in range(5)]
    metrics.log_metrics(session, run_id, batch)
    metrics.log_metrics(session, run_id, batch)
    session.commit()
    assert session.query(Metric).filter_by(run_id=run_id).count() == 5
    assert metrics.metric_history(session, run_id, "loss", None) == [(s, 1.0 / (s + 1)) for s in range(5)]


def test_latest_value_follows_highest_step_not_arrival_order(session: Session) -> None:
    run_id = _run(session)
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("acc", 10, 0.9)])
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("acc", 3, 0.3)])  # late, older point
    session.commit()
    assert runs.summary(runs.get_run(session, run_id)) == {"acc": 0.9}
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("acc", 10, 0.95)])  # rewrite of the same step
    session.commit()
    session.expire_all()
    assert runs.summary(runs.get_run(session, run_id)) == {"acc": 0.95}


def test_history_downsampling_keeps_ends(session: Session) -> None:
    run_id = _run(session)
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("x", s, float(s)) for s in range(1000)])
    session.commit()
    points = metrics.metric_history(session, run_id, "x", 11)
    assert len(points) == 11 and points[0] == (0, 0.0) and points[-1] == (999, 999.0)
    with pytest.raises(NotFound):
        metrics.metric_history(session, run_id, "missing", None)


def test_keyset_pagination_visits_every_run_once(session: Session) -> None:
    ids = [_run(session, seed=i) for i in range(7)]
    seen, token = [], None
    while True:
        page, token = run_list.list_runs(session, run_list.RunFilter(), "-id", 3, token)
        seen += [r.id for r in page]
        if token is None:
            break
    assert seen == sorted(ids, reverse=True)
    seen, token = [], None
    while True:
        page, token = run_list.list_runs(session, run_list.RunFilter(), "created_at", 2, token)
        seen += [r.id for r in page]
        if token is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(ids)
    with pytest.raises(Invalid):
        run_list.list_runs(session, run_list.RunFilter(), "nonsense", 3, None)
    with pytest.raises(Invalid):
        run_list.list_runs(session, run_list.RunFilter(), "-id", 3, "garbage!")


def test_run_lifecycle_transitions(session: Session) -> None:
    run_id = _run(session)
    lifecycle.claim_run(session, run_id, "host-a", 1)
    session.commit()
    with pytest.raises(Conflict):
        lifecycle.claim_run(session, run_id, "host-b", 1)  # a second delivery of the same run
    lifecycle.finish_run(session, run_id, "failed", "boom")
    session.commit()
    run = lifecycle.retry_run(session, run_id)
    assert (run.status, run.attempt, run.error) == ("queued", 2, None)
    with pytest.raises(Conflict):
        lifecycle.claim_run(session, run_id, "host-a", 1)  # a stale delivery for attempt 1
    lifecycle.claim_run(session, run_id, "host-a", 2)
    lifecycle.request_cancel(session, run_id)
    assert lifecycle.finish_run(session, run_id, "succeeded", None)[0].status == "cancelled"


def test_cancel_queued_run_is_final_and_unclaimable(session: Session) -> None:
    run_id = _run(session)
    assert lifecycle.request_cancel(session, run_id)[0].status == "cancelled"
    with pytest.raises(Conflict):
        lifecycle.claim_run(session, run_id, "host", 1)
    with pytest.raises(Conflict):
        lifecycle.request_cancel(session, run_id)


def test_stale_running_runs_are_failed(session: Session) -> None:
    run_id = _run(session)
    lifecycle.claim_run(session, run_id, "ghost", 1)
    session.commit()
    assert lifecycle.fail_stale_runs(session, 3600) == []
    assert lifecycle.fail_stale_runs(session, -1) == [run_id]
    assert "ghost stopped heartbeating" in runs.get_run(session, run_id).error


def test_server_refuses_unmigrated_database(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="xclab db upgrade"):
        verify_schema(engine)


def test_teachers_must_exist_and_fit_the_task(session: Session) -> None:
    teacher = _run(session)
    exp = experiments.list_experiments(session)[0][0]
    with pytest.raises(Invalid) as err:
        runs.check_teachers(session, RunSpec.model_validate(digits_spec(teachers=[teacher, 999_999])))
    [issue] = err.value.detail
    assert issue["loc"] == ["body", "spec", "teachers", 1] and "does not exist" in issue["msg"]
    assert exp.id


def _student(session: Session, teachers: list[int], **spec: object) -> int:
    exp = experiments.list_experiments(session)[0][0]
    method = spec.pop("method", {"name": "kd"})
    run = runs.create_run(
        session, exp.id, RunSpec.model_validate(digits_spec(method=method, teachers=teachers, **spec)), "cpu"
    )
    session.commit()
    return run.id


def _finish(session: Session, run_id: int, status: str) -> list[int]:
    lifecycle.claim_run(session, run_id, "w", None)
    _, released = lifecycle.finish_run(session, run_id, status, "boom" if status == "failed" else None)
    session.commit()
    return [r.id for r in released]


def test_student_waits_for_all_teachers_then_is_released(session: Session) -> None:
    t1, t2 = _run(session, seed=1), _run(session, seed=2)
    student = _student(session, [t1, t2])
    assert runs.get_run(session, student).status == "waiting"
    with pytest.raises(Conflict):
        lifecycle.claim_run(session, student, "w", None)  # a waiting run is never executed
    assert _finish(session, t1, "succeeded") == []
    assert runs.get_run(session, student).status == "waiting"
    assert _finish(session, t2, "succeeded") == [student]
    assert runs.get_run(session, student).status == "queued"
    # A new student of finished teachers starts queued at once.
    assert runs.get_run(session, _student(session, [t1, t2], seed=5)).status == "queued"


def test_failed_teacher_fails_students_transitively_naming_it(session: Session) -> None:
    teacher = _run(session, seed=1)
    student = _student(session, [teacher])
    grandchild = _student(session, [student], seed=3)
    assert _finish(session, teacher, "failed") == []
    session.expire_all()
    s, g = runs.get_run(session, student), runs.get_run(session, grandchild)
    assert (s.status, g.status) == ("failed", "failed")
    assert s.error == f"teacher run {teacher} failed: boom"
    assert g.error.startswith(f"teacher run {student} failed: teacher run {teacher} failed")
    with pytest.raises(Conflict, match="retry those first"):
        lifecycle.retry_run(session, student)
    lifecycle.retry_run(session, teacher)
    assert lifecycle.retry_run(session, student).status == "waiting"  # its teacher is queued again


def test_cancelling_a_waiting_teacher_fails_its_students(session: Session) -> None:
    teacher = _run(session, seed=1)
    student = _student(session, [teacher])
    run, released = lifecycle.request_cancel(session, teacher)
    session.commit()
    assert run.status == "cancelled" and released == []
    assert runs.get_run(session, student).error == f"teacher run {teacher} cancelled"
