"""SQLAlchemy 2 ORM tables. The database row is the truth about a run; Celery is only transport."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Tables keyed and read by (run, ...) keep their rows in the primary key's b-tree on SQLite (WITHOUT ROWID):
# one lookup per row instead of two (migration 0012 says what it buys). PostgreSQL ignores the option.
CLUSTERED_ON_SQLITE = {"sqlite_with_rowid": False}

RUN_STATUSES = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class Experiment(Base):
    __tablename__ = "experiment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Grid(Base):
    """A declarative grid of runs (teacher ensembles, generators, students); its runs carry grid_id and cell."""

    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "run"
    __table_args__ = (
        Index("ix_run_experiment_created", "experiment_id", "created_at"),
        Index("ix_run_status", "status"),
        Index("ix_run_task_method", "task", "method"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id", ondelete="CASCADE"))
    grid_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid.id", ondelete="SET NULL"), default=None, index=True
    )
    cell: Mapped[str | None] = mapped_column(String(300), default=None)
    # An XCL-GAN student depends on its generator run as it does on its teachers.
    generator_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("run.id", ondelete="RESTRICT"), default=None, index=True
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    hparams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Denormalised from the spec so run lists filter and sort on indexed columns.
    task: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(64), default="cpu")
    # 0 (default) to 9 (most urgent); the Redis broker hands out higher ones first (see backend.queueing).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worker_host: Mapped[str | None] = mapped_column(String(255), default=None)
    celery_task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The worker token that claimed the current attempt: only it may heartbeat, report and finish the run.
    claim_token_id: Mapped[int | None] = mapped_column(Integer, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # "training" (a spec a worker runs) or "tracking" (a script elsewhere logs to it; spec, task, model empty).
    kind: Mapped[str] = mapped_column(String(16), default="training", server_default="training")
    name: Mapped[str | None] = mapped_column(String(250), default=None)
    # A researcher's free-text notes; tags live in run_tag so filtering by tag stays indexed.
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # What the run ran on (versions, device, threads, determinism, data hash), reported by its worker.
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The run's params as one JSON object (keys in code-point order), beside their `run_param` rows, which the
    # filters use: a runs page reads them with the run instead of a thousand rows. Kept by every params write
    # (`store.run_params`, `store.tracking_runs`); NULL (a run stored by a version without the column) is read
    # from `run_param` instead.
    params_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    # The finished run this one repeats (`xclab rerun`), to compare the two.
    rerun_of: Mapped[int | None] = mapped_column(ForeignKey("run.id"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    teacher_links: Mapped[list[RunTeacher]] = relationship(
        foreign_keys="RunTeacher.student_id", order_by="RunTeacher.position", cascade="all, delete-orphan"
    )
    artifacts: Mapped[list[Artifact]] = relationship(order_by="Artifact.id", cascade="all, delete-orphan")
    latest_metrics: Mapped[list[LatestMetric]] = relationship(
        order_by="LatestMetric.key", cascade="all, delete-orphan"
    )
    tag_rows: Mapped[list[RunTag]] = relationship(order_by="RunTag.tag", cascade="all, delete-orphan")
    param_rows: Mapped[list[RunParam]] = relationship(order_by="RunParam.key", cascade="all, delete-orphan")


class RunParam(Base):
    """A free-form run param (key -> str, int, float or bool), stored as text with its type.

    (key, value, run_id) is indexed so "runs whose param arch is resnet50" reads the index, never the runs."""

    __tablename__ = "run_param"
    __table_args__ = (Index("ix_run_param_key_value", "key", "value", "run_id"), CLUSTERED_ON_SQLITE)

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(8))


class RunTag(Base):
    """One tag of a run; (tag, run_id) is indexed so "runs tagged X" never scans the run table."""

    __tablename__ = "run_tag"
    __table_args__ = (Index("ix_run_tag_tag", "tag", "run_id"), CLUSTERED_ON_SQLITE)

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class RunTeacher(Base):
    """A student run references the teacher runs of its ensemble, in the order the spec lists them."""

    __tablename__ = "run_teacher"
    __table_args__ = CLUSTERED_ON_SQLITE

    student_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    teacher_id: Mapped[int] = mapped_column(
        ForeignKey("run.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class Metric(Base):
    """Full history; (run, key, step) is the key so writing the same point twice is a no-op."""

    __tablename__ = "metric"
    __table_args__ = CLUSTERED_ON_SQLITE

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)


class LatestMetric(Base):
    """The value at the highest step per (run, key): run lists read this, never the history."""

    __tablename__ = "latest_metric"
    # Sorting runs by a metric walks this index in (value, run_id) order instead of sorting every run.
    __table_args__ = (Index("ix_latest_metric_key_value", "key", "value", "run_id"), CLUSTERED_ON_SQLITE)

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)


class RunLog(Base):
    """The worker's console (stdout, stderr, logging) in chunks; (run, seq) is the key so a chunk sent twice (a
    retried request) is stored once."""

    __tablename__ = "run_log"

    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    stream: Mapped[str] = mapped_column(String(8))  # stdout | stderr
    text: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)  # UTF-8 bytes of text, summed for the per-run limit
    wall_time: Mapped[float] = mapped_column(Float)


class Artifact(Base):
    __tablename__ = "artifact"
    __table_args__ = (UniqueConstraint("run_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedView(Base):
    """A named runs-table setup (filters, sort, columns, page size) a researcher can reload."""

    __tablename__ = "saved_view"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Worker(Base):
    """A worker process as it last described itself: where it runs, what it consumes and holds. Workers upsert
    their row on every inventory heartbeat; a row not refreshed for a while is shown as stale, never deleted."""

    __tablename__ = "worker"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # Celery node name, unique per process
    host: Mapped[str] = mapped_column(String(255))
    queues: Mapped[list[str]] = mapped_column(JSON)
    gpus: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{index, name, memory_mb}]
    slots: Mapped[int] = mapped_column(Integer)
    running: Mapped[list[int]] = mapped_column(JSON)  # ids of the runs it executes now
    software: Mapped[dict[str, str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="online")  # online | stopped
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)


TOKEN_ROLES = ("admin", "user", "worker")


class ApiToken(Base):
    """A bearer token: only its sha256 is stored, so the table leaks no usable token. Revoked, never deleted,
    so a run's claim keeps naming the token that made it."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
