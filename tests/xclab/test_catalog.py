"""The catalog: typed entries whose defaults and JSON shape are what GET /api/v1/catalog has always served."""

from __future__ import annotations

import json

from xclab.catalog import METHOD_CHOICES, METHODS, MODELS, TASKS, catalog_dict


def test_method_defaults_are_unchanged() -> None:
    distill = {"temperature": 1.0, "t2_factor": True}
    assert {name: m.params for name, m in METHODS.items()} == {
        "erm": {"loss": "auto"},
        "ls": {"epsilon": 0.1},
        "mixup": {"alpha": 1.0},
        "cutmix": {"alpha": 1.0},
        "kd": {**distill, "gt_weight": 0.0},
        "xcl-mix": {**distill, "batch_composition": "half", "mix": "both", "alpha": 1.0, "mix_ratio": 1.0},
        "xcl-gan": {
            **distill,
            "batch_composition": "half",
            "generator_run": None,
            "mode": "online",
            "gan_fraction": 0.5,
            "offline_size": 10000,
            "renderer": "gap",
        },
        "gan": {"latent_dim": 32},
    }
    assert METHOD_CHOICES == {
        "batch_composition": ("half", "append"),
        "loss": ("auto", "mse", "nll"),
        "mix": ("both", "mixup", "cutmix"),
        "mode": ("online", "offline"),
        "renderer": ("gap", "oracle"),
    }


def test_catalog_dict_keeps_its_shape_and_is_json() -> None:
    catalog = json.loads(json.dumps(catalog_dict()))
    assert set(catalog) == {"tasks", "models", "methods", "recipes"}
    task_keys = {"name", "kind", "primary_metric", "num_outputs", "description"}
    model_keys = {"name", "tasks", "description", "scalable_width"}
    method_keys = {"name", "needs_teachers", "description", "params", "uses_generator", "trains_generator"}
    method_keys |= {"needs_class_labels", "transfer_set"}
    assert all(task_keys <= set(t) for t in catalog["tasks"])
    assert all(model_keys <= set(m) for m in catalog["models"])
    assert all(method_keys <= set(m) for m in catalog["methods"])
    assert all({"name", "task", "model", "description", "hparams"} <= set(r) for r in catalog["recipes"])
    kd = next(m for m in catalog["methods"] if m["name"] == "kd")
    assert kd["params_schema"]["properties"]["temperature"]["exclusiveMinimum"] == 0
    pyramidnet = next(m for m in catalog["models"] if m["name"] == "pyramidnet")
    assert pyramidnet["options"] == {"depth": 200, "alpha": 240.0, "bottleneck": None}


def test_regression_tasks_describe_their_target() -> None:
    for task in TASKS.values():
        if task.regression:
            assert task.target is not None and task.num_outputs == task.target.dims
            assert task.primary_metric.key == f"test_{task.target.error_metric}"
            assert task.primary_metric.goal == "min"
        else:
            assert task.target is None and task.primary_metric.key == "test_top1"
    assert TASKS["mpiigaze"].primary_metric.key == "test_angular_error"


def test_every_model_fits_only_catalog_tasks() -> None:
    assert all(set(m.tasks) <= set(TASKS) for m in MODELS.values())
