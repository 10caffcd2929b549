"""Metric points and latest values on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.errors import Conflict, NotFound
from backend.models import Metric
from backend.store import lifecycle, metrics, runs
from tests.backend.store.factories import make_run


def test_same_metric_batch_twice_is_stored_once(session: Session) -> None:
    run_id = make_run(session)
    batch = [metrics.MetricPoint("loss", s, 1.0 / (s + 1)) for s in range(5)]
    metrics.log_metrics(session, run_id, batch)
    metrics.log_metrics(session, run_id, batch)
    session.commit()
    assert session.query(Metric).filter_by(run_id=run_id).count() == 5
    assert metrics.metric_history(session, run_id, "loss", None) == [(s, 1.0 / (s + 1)) for s in range(5)]


def test_latest_value_follows_highest_step_not_arrival_order(session: Session) -> None:
    run_id = make_run(session)
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("acc", 10, 0.9)])
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("acc", 3, 0.3)])  # late, older point
    session.commit()
    assert runs.summary(runs.get_run(session, run_id)) == {"acc": 0.9}
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("acc", 10, 0.95)])  # rewrite of the same step
    session.commit()
    session.expire_all()
    assert runs.summary(runs.get_run(session, run_id)) == {"acc": 0.95}


def test_history_downsampling_keeps_ends(session: Session) -> None:
    run_id = make_run(session)
    metrics.log_metrics(session, run_id, [metrics.MetricPoint("x", s, float(s)) for s in range(1000)])
    session.commit()
    points = metrics.metric_history(session, run_id, "x", 11)
    assert len(points) == 11 and points[0] == (0, 0.0) and points[-1] == (999, 999.0)
    with pytest.raises(NotFound):
        metrics.metric_history(session, run_id, "missing", None)


class Refused(Exception):
    pass


def _refuse() -> None:
    raise Refused


def _points(session: Session, run_id: int) -> list[tuple[str, int, float]]:
    session.expire_all()
    rows = session.query(Metric).filter_by(run_id=run_id).order_by(Metric.key, Metric.step)
    return [(m.key, m.step, m.value) for m in rows]


def test_write_points_in_a_unit_of_work_of_its_own(session: Session) -> None:
    """The hot path (one statement on PostgreSQL): deduplicated batch, latest value only moving forward."""
    run_id = make_run(session)
    engine = session.get_bind()
    batch = [
        metrics.MetricPoint("acc", 2, 0.2),
        metrics.MetricPoint("acc", 5, 0.5),
        metrics.MetricPoint("acc", 2, 0.25),
    ]
    assert metrics.write_points(engine, run_id, batch, metrics.ANY_HOLDER, _refuse) == 2
    assert (
        metrics.write_points(
            engine, run_id, [metrics.MetricPoint("acc", 3, 0.3)], metrics.ANY_HOLDER, _refuse
        )
        == 1
    )
    assert _points(session, run_id) == [("acc", 2, 0.25), ("acc", 3, 0.3), ("acc", 5, 0.5)]
    assert runs.summary(runs.get_run(session, run_id)) == {"acc": 0.5}  # the late step 3 left it alone
    assert metrics.write_points(engine, run_id, [], metrics.ANY_HOLDER, _refuse) == 0
    mixed = [metrics.MetricPoint("n", 1, 1), metrics.MetricPoint("m", 1, 0.5, 1_700_000_000)]  # ints, floats
    assert metrics.write_points(engine, run_id, mixed, metrics.ANY_HOLDER, _refuse) == 2
    assert metrics.metric_history(session, run_id, "n", None) == [(1, 1.0)]


def test_write_points_stores_every_value_exactly(session: Session) -> None:
    """Keys with every character a metric key may hold, extreme floats and steps, read back as equal floats (the
    PostgreSQL statement ships the batch as JSON text, so printing and parsing must not round anything)."""
    run_id = make_run(session)
    values = [0.1, 1 / 3, -2.5e-310, 5e-324, 1.7976931348623157e308, -0.0, 123456789.12345679, 2.0**53 + 2]
    batch = [
        metrics.MetricPoint(f"Key.a-b_c/{i}", step, value, 1_700_000_000.123456 + i)
        for i, (step, value) in enumerate(zip([0, 1, 2**40, 2**62, 7, 8, 9, 10], values, strict=True))
    ]
    assert metrics.write_points(session.get_bind(), run_id, batch, metrics.ANY_HOLDER, _refuse) == len(batch)
    for point in batch:
        stored = metrics.metric_history(session, run_id, point.key, None, wall_time=True)
        assert stored == [(point.step, point.value, point.wall_time)]
    assert runs.summary(runs.get_run(session, run_id)) == {p.key: p.value for p in batch}


def test_write_points_refusals_write_nothing(session: Session) -> None:
    run_id = make_run(session)
    engine = session.get_bind()
    point = [metrics.MetricPoint("loss", 1, 1.0)]
    lifecycle.claim_run(session, run_id, "w", None, token_id=7)
    session.commit()
    for rule in (
        metrics.HolderRule(any_holder=False, holder=8),
        metrics.HolderRule(any_holder=False, holder=None),
    ):
        with pytest.raises(Refused):  # another worker's token; a user's while a worker holds the run
            metrics.write_points(engine, run_id, point, rule, _refuse)
    assert _points(session, run_id) == []
    assert (
        metrics.write_points(engine, run_id, point, metrics.HolderRule(any_holder=False, holder=7), _refuse)
        == 1
    )
    lifecycle.finish_run(session, run_id, "succeeded", None)
    session.commit()
    with pytest.raises(Conflict, match="is succeeded"):
        metrics.write_points(
            engine, run_id, [metrics.MetricPoint("loss", 2, 2.0)], metrics.ANY_HOLDER, _refuse
        )
    assert _points(session, run_id) == [("loss", 1, 1.0)]
    with pytest.raises(NotFound):
        metrics.write_points(engine, run_id + 1000, point, metrics.ANY_HOLDER, _refuse)
    with pytest.raises(Refused):  # a missing run has no holder: a worker is refused before the 404, as before
        metrics.write_points(
            engine, run_id + 1000, point, metrics.HolderRule(any_holder=False, holder=7), _refuse
        )
