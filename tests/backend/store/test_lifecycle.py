"""Run lifecycle and dependents on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.errors import Conflict
from backend.store import lifecycle, runs
from tests.backend.store.factories import claim_and_finish, make_run, make_student


def test_run_lifecycle_transitions(session: Session) -> None:
    run_id = make_run(session)
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
    run_id = make_run(session)
    assert lifecycle.request_cancel(session, run_id)[0].status == "cancelled"
    with pytest.raises(Conflict):
        lifecycle.claim_run(session, run_id, "host", 1)
    with pytest.raises(Conflict):
        lifecycle.request_cancel(session, run_id)


def test_stale_running_runs_are_failed(session: Session) -> None:
    run_id = make_run(session)
    lifecycle.claim_run(session, run_id, "ghost", 1)
    session.commit()
    assert lifecycle.fail_stale_runs(session, 3600) == ([], [])
    assert lifecycle.fail_stale_runs(session, -1) == ([run_id], [])
    assert "ghost stopped heartbeating" in runs.get_run(session, run_id).error


def test_student_waits_for_all_teachers_then_is_released(session: Session) -> None:
    t1, t2 = make_run(session, seed=1), make_run(session, seed=2)
    student = make_student(session, [t1, t2])
    assert runs.get_run(session, student).status == "waiting"
    with pytest.raises(Conflict):
        lifecycle.claim_run(session, student, "w", None)  # a waiting run is never executed
    assert claim_and_finish(session, t1, "succeeded") == []
    assert runs.get_run(session, student).status == "waiting"
    assert claim_and_finish(session, t2, "succeeded") == [student]
    assert runs.get_run(session, student).status == "queued"
    # A new student of finished teachers starts queued at once.
    assert runs.get_run(session, make_student(session, [t1, t2], seed=5)).status == "queued"


def test_failed_teacher_fails_students_transitively_naming_it(session: Session) -> None:
    teacher = make_run(session, seed=1)
    student = make_student(session, [teacher])
    grandchild = make_student(session, [student], seed=3)
    assert claim_and_finish(session, teacher, "failed") == []
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
    teacher = make_run(session, seed=1)
    student = make_student(session, [teacher])
    run, released = lifecycle.request_cancel(session, teacher)
    session.commit()
    assert run.status == "cancelled" and released == []
    assert runs.get_run(session, student).error == f"teacher run {teacher} cancelled"
