"""Creating runs: teachers and generators checked, on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.store import experiments, runs
from tests.backend.store.factories import make_run
from tests.support import digits_spec
from xclab.spec import RunSpec


def test_teachers_must_exist_and_fit_the_task(session: Session) -> None:
    teacher = make_run(session)
    with pytest.raises(Invalid) as err:
        runs.check_teachers(session, RunSpec.model_validate(digits_spec(teachers=[teacher, 999_999])))
    [issue] = err.value.detail
    assert issue["loc"] == ["body", "spec", "teachers", 1] and "does not exist" in issue["msg"]


def _generator(session: Session) -> int:
    return make_run(
        session, model={"name": "cgan", "width": 0.5}, method={"name": "gan"}, recipe="digits-gan"
    )


def _xcl_gan(teachers: list[int], generator: int) -> RunSpec:
    return RunSpec.model_validate(
        digits_spec(method={"name": "xcl-gan", "generator_run": generator}, teachers=teachers)
    )


def test_a_generator_is_no_teacher_and_a_teacher_no_generator(session: Session) -> None:
    teacher, generator = make_run(session), _generator(session)
    exp = experiments.list_experiments(session)[0][0]
    with pytest.raises(Invalid) as err:
        runs.create_run(session, exp.id, _xcl_gan([generator], generator), "cpu")
    assert [(e["loc"], e["msg"]) for e in err.value.detail] == [
        (["body", "spec", "teachers", 0], f"run {generator} is a generator, not a teacher")
    ]
    with pytest.raises(Invalid) as err:
        runs.create_run(session, exp.id, _xcl_gan([teacher], teacher), "cpu")
    # The message names the catalog's generator-training method(s): today only `gan`.
    assert [(e["loc"], e["msg"]) for e in err.value.detail] == [
        (
            ["body", "spec", "method", "generator_run"],
            f"run {teacher} is a 'erm' run, not a generator (method 'gan') run",
        )
    ]


def test_a_student_waits_for_its_generator(session: Session) -> None:
    teacher, generator = make_run(session), _generator(session)
    exp = experiments.list_experiments(session)[0][0]
    student = runs.create_run(session, exp.id, _xcl_gan([teacher], generator), "cpu")
    assert student.status == "waiting" and student.generator_run_id == generator
    assert runs.dependency_ids(student) == [teacher, generator]
