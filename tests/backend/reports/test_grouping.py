"""Report rows never pool students of different teachers, also where cell keys do not tell them apart (runs
outside grids, seen through synthetic cells, or grids stored before keys named their ensemble)."""

from __future__ import annotations

from types import SimpleNamespace

from backend.reports.grid_report import group_students


def _run(
    run_id: int, cell: str, teachers: tuple[int, ...] = (), generator: int | None = None
) -> SimpleNamespace:
    links = [SimpleNamespace(teacher_id=t) for t in teachers]
    return SimpleNamespace(id=run_id, cell=cell, teacher_links=links, generator_run_id=generator)


def test_a_group_with_one_ensemble_keeps_its_cell_group() -> None:
    runs = [
        _run(1, "teacher/ens/0"),
        _run(2, "student/kd/small-cnn@0.5/seed=0", (1,)),
        _run(3, "student/kd/small-cnn@0.5/seed=1", (1,)),
    ]
    assert {g: [r.id for r in rs] for g, rs in group_students(runs).items()} == {
        "student/kd/small-cnn@0.5": [2, 3]
    }


def test_students_of_different_teachers_or_generators_get_rows_of_their_own() -> None:
    runs = [
        _run(1, "teacher/big/0"),
        _run(2, "teacher/small/0"),
        _run(3, "generator/gan"),
        _run(4, "student/kd/m@1/seed=0", (1,)),
        _run(5, "student/kd/m@1/seed=0", (2,)),
        _run(6, "student/kd/m@1/seed=1", (2,)),
        _run(7, "student/kd/m@1/seed=0", (9,), generator=3),  # a teacher outside these runs
    ]
    groups = {g: [r.id for r in rs] for g, rs in group_students(runs).items()}
    assert groups == {
        "student/kd/m@1 | teachers=big": [4],
        "student/kd/m@1 | teachers=small": [5, 6],
        "student/kd/m@1 | teachers=runs 9 | generator=gan": [7],
    }
