"""Grid expansion: cells, sweeps, dependencies, and every built-in grid yields valid specs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from xclab.grids import GridDefinition, builtin_grids, expand, load_grid_text
from xclab.spec import RunSpec, check_spec

SMALL = {
    "name": "g",
    "task": "digits",
    "epochs": 2,
    "teachers": [{"name": "ens", "members": 2, "model": {"name": "small-cnn"}}],
    "generators": [{"name": "gan", "model": {"name": "cgan", "width": 0.25}}],
    "students": {
        "models": [{"name": "small-cnn"}],
        "widths": [0.25, 0.5],
        "seeds": [0, 1],
        "methods": [
            {"name": "erm"},
            {"name": "kd", "teachers": "ens", "temperature": [1.0, 4.0]},
            {"name": "xcl-gan", "teachers": "ens", "generator": "gan"},
        ],
    },
}


def test_expansion_orders_dependencies_first_and_sweeps_lists() -> None:
    cells = expand(GridDefinition.model_validate(SMALL))
    keys = [c.key for c in cells]
    assert keys[:3] == ["teacher/ens/0", "teacher/ens/1", "generator/gan"]
    students = [c for c in cells if c.role == "student"]
    assert len(students) == (1 + 2 + 1) * 2 * 2  # methods (with the T sweep) x widths x seeds
    kd = [c for c in students if c.key.startswith("student/kd[temperature=4]/small-cnn@0.5/")]
    assert [c.spec["method"] for c in kd] == [{"name": "kd", "temperature": 4.0}] * 2
    assert all(c.teachers == ["teacher/ens/0", "teacher/ens/1"] for c in kd)
    gan_students = [c for c in students if c.spec["method"]["name"] == "xcl-gan"]
    assert all(c.generator == "generator/gan" for c in gan_students)
    assert kd[0].group == "student/kd[temperature=4]/small-cnn@0.5"
    assert all(c.spec["epochs"] == 2 for c in cells)


def test_students_of_several_ensembles_carry_their_ensemble_in_the_key() -> None:
    grid = {
        **SMALL,
        "teachers": [
            {"name": "cutmix", "members": 1, "model": {"name": "small-cnn"}},
            {"name": "erm", "members": 1, "model": {"name": "small-cnn"}},
        ],
        "students": {
            "models": [{"name": "small-cnn"}],
            "methods": [
                {"name": "erm"},
                {"name": "kd", "teachers": "cutmix", "temperature": [1.0, 4.0]},
                {"name": "kd", "teachers": "erm"},
            ],
        },
    }
    students = [c for c in expand(GridDefinition.model_validate(grid)) if c.role == "student"]
    keys = [c.key for c in students]
    assert len(set(keys)) == len(keys) == 4
    assert "student/erm/small-cnn@1/seed=0" in keys  # no teachers: nothing to name
    assert "student/kd[temperature=4,teachers=cutmix]/small-cnn@1/seed=0" in keys
    [own] = [c for c in students if c.key == "student/kd[teachers=erm]/small-cnn@1/seed=0"]
    assert own.teachers == ["teacher/erm/0"]


def test_unknown_ensemble_reference_is_refused() -> None:
    bad = {**SMALL, "students": {**SMALL["students"], "methods": [{"name": "kd", "teachers": "nope"}]}}
    with pytest.raises(ValidationError, match="names teachers 'nope'"):
        GridDefinition.model_validate(bad)


def test_a_label_names_the_row_and_keeps_the_parameters() -> None:
    oracle = {
        "name": "xcl-gan",
        "teachers": "ens",
        "renderer": "oracle",
        "label": "oracle generator (upper bound)",
    }
    grid = {
        "name": "g",
        "task": "synthetic-gaze",
        "teachers": [{"name": "ens", "members": 1, "model": {"name": "preact-resnet9"}}],
        "students": {
            "models": [{"name": "lenet"}],
            "methods": [{"name": "xcl-gan", "teachers": "ens"}, oracle],
        },
    }
    cells = [c for c in expand(GridDefinition.model_validate(grid)) if c.role == "student"]
    assert [c.group for c in cells] == [
        "student/xcl-gan/lenet@1",
        "student/oracle generator (upper bound)/lenet@1",
    ]
    assert cells[1].spec["method"] == {"name": "xcl-gan", "renderer": "oracle"}
    with pytest.raises(ValidationError, match="label"):
        GridDefinition.model_validate(
            {**grid, "students": {**grid["students"], "methods": [{**oracle, "label": "a/b"}]}}
        )


def test_per_seed_ensembles_give_every_seed_its_own_split_and_teachers() -> None:
    grid = {
        "name": "g",
        "task": "synthetic-gaze",
        "teachers": [{"name": "ens", "members": 2, "model": {"name": "preact-resnet9"}, "per_seed": True}],
        "students": {
            "models": [{"name": "lenet"}],
            "seeds": [0, 3],
            "methods": [{"name": "erm"}, {"name": "kd", "teachers": "ens"}],
        },
    }
    cells = expand(GridDefinition.model_validate(grid))
    teachers = {c.key: c for c in cells if c.role == "teacher"}
    assert sorted(teachers) == [
        "teacher/ens/split=0/0",
        "teacher/ens/split=0/1",
        "teacher/ens/split=3/0",
        "teacher/ens/split=3/1",
    ]
    assert teachers["teacher/ens/split=3/1"].spec["overrides"] == {"split_seed": 3}
    kd = {c.spec["seed"]: c for c in cells if c.key.startswith("student/kd/")}
    assert kd[3].teachers == ["teacher/ens/split=3/0", "teacher/ens/split=3/1"]
    assert "split_seed" not in kd[3].spec["overrides"]  # the student's split follows its seed: the same one
    assert len({c.group for c in kd.values()}) == 1  # seeds of one row, as ever
    with pytest.raises(ValidationError, match="remove overrides.split_seed"):
        GridDefinition.model_validate({**grid, "overrides": {"split_seed": 0}})


@pytest.mark.parametrize("name", sorted(builtin_grids()))
def test_every_builtin_grid_expands_to_valid_specs(name: str) -> None:
    grid = GridDefinition.model_validate(load_grid_text(builtin_grids()[name]))
    cells = expand(grid)
    ids = {c.key: i + 1 for i, c in enumerate(cells)}
    for cell in cells:
        spec = dict(cell.spec, teachers=[ids[t] for t in cell.teachers])
        if cell.generator:
            spec["method"] = {**spec["method"], "generator_run": ids[cell.generator]}
        issues = check_spec(RunSpec.model_validate(spec))
        assert not issues, f"{name}/{cell.key}: {issues}"


def test_builtin_paper_grids_cover_the_issue() -> None:
    grids = builtin_grids()
    assert {
        "digits-paper",
        "synthetic-gaze-paper",
        "digits-temperature",
        "digits-label-smoothing",
        "digits-student-size",
        "cifar100-resnet18",
        "cifar100-pyramidnet200",
        "cifar100-binary-resnet18",
        "mpiigaze",
        "imagenet-resnet50",
    } <= set(grids)
    digits = {
        c.spec["method"]["name"]
        for c in expand(GridDefinition.model_validate(load_grid_text(grids["digits-paper"])))
    }
    assert {"erm", "ls", "mixup", "cutmix", "kd", "xcl-mix", "xcl-gan"} <= digits


def test_builtin_supplement_grids_on_their_own_data() -> None:
    grids = builtin_grids()
    assert {
        "digits-teacher-ablation",
        "cifar100-teacher-ablation",
        "cifar100-label-smoothing",
        "cifar100-temperature",
        "cifar100-student-size",
        "cifar100-binary-student-size",
        "synthetic-gaze-evidence",
    } <= set(grids)
    imagenet = expand(GridDefinition.model_validate(load_grid_text(grids["imagenet-resnet50"])))
    assert {c.spec["model"]["name"] for c in imagenet if c.role == "student"} == {"resnet50", "resnet101"}


@pytest.mark.parametrize("name", ["digits-teacher-ablation", "cifar100-teacher-ablation"])
def test_teacher_ablation_students_learn_from_their_own_ensemble(name: str) -> None:
    grid = GridDefinition.model_validate(load_grid_text(builtin_grids()[name]))
    cells = expand(grid)
    teacher_methods = {e.name: e.method.name for e in grid.teachers}
    assert {"erm", "ls", "mixup", "cutmix"} <= set(teacher_methods.values())
    assert len({(e.model.name, e.model.width, tuple(e.model.options.items())) for e in grid.teachers}) == 2
    rows: dict[str, set[str]] = {}
    for cell in cells:
        if cell.role == "student" and cell.teachers:
            ensembles = {t.split("/")[1] for t in cell.teachers}
            assert len(ensembles) == 1  # one ensemble per student, named in its row
            (ensemble,) = ensembles
            assert ensemble in cell.group
            rows.setdefault(cell.spec["method"]["name"], set()).add(ensemble)
    assert rows["kd"] == rows["xcl-mix"] == set(teacher_methods)


def test_gaze_evidence_grid_is_paired_per_split_and_labels_the_oracle() -> None:
    grid = GridDefinition.model_validate(load_grid_text(builtin_grids()["synthetic-gaze-evidence"]))
    students = [c for c in expand(grid) if c.role == "student"]
    groups = {c.group.split("/")[1] for c in students}
    assert groups == {
        "erm[loss=mse]",
        "erm[loss=nll]",
        "kd",
        "xcl-mix",
        "xcl-gan",
        "xcl-gan oracle generator (upper bound)",
    }
    assert all(len([c for c in students if c.group == g]) >= 8 for g in {c.group for c in students})
    gan = [c for c in students if c.spec["method"]["name"] == "xcl-gan"]
    oracle = [c for c in gan if c.spec["method"].get("renderer") == "oracle"]
    assert oracle and all("upper bound" in c.group for c in oracle)
    assert all("upper bound" not in c.group for c in gan if c not in oracle)
    for cell in students:
        if cell.teachers:
            assert all(f"/split={cell.spec['seed']}/" in t for t in cell.teachers)
