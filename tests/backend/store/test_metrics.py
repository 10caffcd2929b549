"""Metric points and latest values on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import Metric
from backend.store import metrics, runs
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
