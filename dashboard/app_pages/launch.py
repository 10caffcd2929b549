"""Launch: a run form built from GET /catalog; the API validates, and its 422 messages show under each field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from pydantic import ValidationError

from dashboard.api import get_api
from dashboard.form_errors import GENERAL, errors_by_field, param_field
from dashboard.tables import mapping_frame, primary_value, run_name
from dashboard.ui import call, run_link
from xclab.client import ApiError
from xclab.spec import RunSpec, check_spec

ERRORS = "launch_errors"
RESULT = "launch_result"
FIXED_WIDTH = "The catalog marks this model's width as fixed."
# The catalog's task descriptions say which tasks read a dataset that is not bundled.
NEEDS_DATA = "needs the dataset"
SPEC_LOC = ("body", "spec")

# Fields drawn in this script run; errors about any other field are shown with the general ones.
rendered: set[str] = set()


@contextmanager
def field(name: str) -> Iterator[None]:
    """A keyed box for one widget, followed directly by the API's messages about that field."""
    rendered.add(name)
    with st.container(key=f"launch_field_{name}"):
        yield
        for message in st.session_state.get(ERRORS, {}).get(name, []):
            st.error(message, icon=":material/error:")


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def _param_key(method: str, param: str) -> str:
    # Per method, so switching methods shows that method's catalog defaults.
    return f"launch_param_{method}_{param}"


# ------------------------------------------------------------ submit (a button callback)


def _experiment_id(experiments: list[dict[str, Any]]) -> int | None:
    """The chosen experiment, creating it by name when asked (an existing name is reused)."""
    state = st.session_state
    if state.get("launch_experiment_mode") != "new":
        return state.get("launch_experiment_id")
    name = (state.get("launch_experiment_name") or "").strip()
    existing = [e["id"] for e in experiments if e["name"] == name]
    # An empty name goes to the API too, so its 422 shows under the experiment field.
    return existing[0] if existing else get_api().create_experiment(name)["id"]


def _method_params(method: dict[str, Any]) -> dict[str, Any]:
    params = {}
    for param, default in method.get("params", {}).items():
        value = st.session_state.get(_param_key(method["name"], param))
        if default is None:  # free text (e.g. a run id); empty means "not set"
            text = (value or "").strip()
            if not text:
                continue
            value = int(text) if text.isdigit() else text
        params[param] = value
    return params


def _spec(catalog: dict[str, Any]) -> dict[str, Any]:
    state = st.session_state
    method = _by_name(catalog["methods"]).get(state.get("launch_method") or "", {})
    model = _by_name(catalog["models"]).get(state.get("launch_model") or "", {})
    width = state.get("launch_width") if model.get("scalable_width", True) else 1.0
    spec: dict[str, Any] = {
        "task": state.get("launch_task"),
        "model": {"name": state.get("launch_model"), "width": width},
        "method": {"name": state.get("launch_method"), **_method_params(method)},
        "teachers": list(state.get("launch_teachers") or []) if method.get("needs_teachers") else [],
        "recipe": state.get("launch_recipe"),
        "seed": state.get("launch_seed"),
    }
    for optional in ("epochs", "limit"):
        if state.get(f"launch_{optional}") is not None:
            spec[optional] = state[f"launch_{optional}"]
    return spec


def spec_problems(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks the API runs on a spec (its model, then the catalog), located as in the API's 422, so a run
    that cannot be accepted is refused before a new experiment is created for it."""
    try:
        parsed = RunSpec.model_validate(spec)
    except ValidationError as err:
        return [{"loc": [*SPEC_LOC, *e["loc"]], "msg": e["msg"]} for e in err.errors(include_url=False)]
    return [issue.as_error(SPEC_LOC) for issue in check_spec(parsed)]


def _submit(catalog: dict[str, Any], experiments: list[dict[str, Any]]) -> None:
    """Runs before the page reruns, so the answer is drawn next to the fields."""
    spec = _spec(catalog)
    problems = spec_problems(spec)
    if problems:
        st.session_state[ERRORS] = errors_by_field(problems)
        st.session_state[RESULT] = None
        return
    try:
        run = get_api().submit_run(_experiment_id(experiments), spec)
    except ApiError as err:
        st.session_state[ERRORS] = errors_by_field(err.field_errors) or {GENERAL: [err.message]}
        st.session_state[RESULT] = None
    else:
        st.session_state[ERRORS] = {}
        st.session_state[RESULT] = run


# ------------------------------------------------------------ widgets


def experiment_field(experiments: list[dict[str, Any]]) -> None:
    with field("experiment"):
        mode = st.radio(
            "Experiment",
            ["existing", "new"],
            index=0 if experiments else 1,
            format_func={"existing": "Existing experiment", "new": "New experiment"}.__getitem__,
            horizontal=True,
            key="launch_experiment_mode",
        )
        if mode == "new":
            st.text_input(
                "Name",
                key="launch_experiment_name",
                placeholder="e.g. kd-digits-widths",
                help="Created on submit; an existing name is reused.",
            )
        else:
            names = {e["id"]: f"{e['name']} (#{e['id']}, {e['run_count']} runs)" for e in experiments}
            st.selectbox("Name", list(names), format_func=names.__getitem__, key="launch_experiment_id")


def generator_widget(key: str, task: str) -> None:
    """A generator run is a finished `gan` run of the same task: offer those, by name."""
    runs = call(get_api().list_runs, status=["succeeded"], task=[task], method=["gan"], limit=200)["data"]
    labels = {str(r["id"]): f"#{r['id']} {run_name(r)}" for r in runs}
    if st.session_state.get(key) not in (None, "", *labels):
        st.session_state[key] = None  # a generator of another task
    st.selectbox(
        "generator_run",
        list(labels),
        index=None,
        format_func=labels.__getitem__,
        key=key,
        placeholder="a finished gan run" if labels else f"no finished gan run of {task}: train one first",
        help="The class-conditional GAN whose samples extend the transfer set.",
    )


def param_widget(method: dict[str, Any], param: str, default: Any, task: str) -> None:
    """One method parameter; the widget follows the catalog: its choices, a run picker, or the default's type."""
    key = _param_key(method["name"], param)
    schema = method.get("params_schema", {}).get("properties", {}).get(param, {})
    with field(param_field(param)):
        if param == "generator_run":
            generator_widget(key, task)
        elif schema.get("enum"):
            st.selectbox(param, schema["enum"], index=schema["enum"].index(default), key=key)
        elif isinstance(default, bool):
            st.checkbox(param, value=default, key=key)
        elif isinstance(default, int):
            st.number_input(param, value=default, step=1, key=key)
        elif isinstance(default, float):
            st.number_input(param, value=default, step=0.1, format="%g", key=key)
        elif default is None:
            st.text_input(param, key=key, placeholder="not set")
        else:
            st.text_input(param, value=str(default), key=key)


def method_params(method: dict[str, Any], task: str) -> None:
    params = method.get("params", {})
    if not params:
        return
    st.caption(f"{method['name']} parameters")
    cols = st.columns(min(len(params), 4))
    for i, (param, default) in enumerate(params.items()):
        with cols[i % len(cols)]:
            param_widget(method, param, default, task)


def _teacher_label(run: dict[str, Any]) -> str:
    value = primary_value(run)
    score = "–" if value is None else f"{value:.2f}"
    width = run["spec"].get("model", {}).get("width")
    return f"#{run['id']} {run['method']} · {run['model']} ×{width} · {run['primary_metric']} {score}"


def teacher_field(task: str) -> None:
    with field("teachers"):
        runs = call(get_api().list_runs, status=["succeeded"], task=[task], limit=1000)["data"]
        labels = {r["id"]: _teacher_label(r) for r in runs}
        st.multiselect(
            "Teachers",
            list(labels),
            format_func=labels.__getitem__,
            key="launch_teachers",
            placeholder=f"succeeded runs of task {task}",
            help="Their checkpoints form the teacher ensemble.",
        )
        if not runs:
            st.caption(f"No succeeded {task} runs yet: train a teacher first.")


def launch_form(catalog: dict[str, Any], experiments: list[dict[str, Any]]) -> None:
    experiment_field(experiments)
    tasks, methods = _by_name(catalog["tasks"]), _by_name(catalog["methods"])

    row = st.columns([2, 2, 1])
    with row[0], field("task"):
        task = st.selectbox(
            "Task",
            list(tasks),
            key="launch_task",
            format_func=lambda t: f"{t} (needs its dataset)" if NEEDS_DATA in tasks[t]["description"] else t,
        )
        st.caption(tasks[task]["description"] if task else "")
        if task and NEEDS_DATA in tasks[task]["description"]:
            st.warning(
                f"**{task}** reads a dataset that is not bundled: put it under the worker's data folder "
                "(`XCL_DATA_ROOT`, default `data/`) first, or the run fails at its first step.",
                icon=":material/folder_off:",
            )
    models = {m["name"]: m for m in catalog["models"] if task in m["tasks"]}
    with row[1], field("model"):
        model = st.selectbox("Model", list(models), key="launch_model", placeholder="no model fits this task")
        st.caption(models[model]["description"] if model else "")
    with row[2], field("width"):
        if model and not models[model]["scalable_width"]:
            st.number_input("Width", value=1.0, disabled=True, key="launch_width_fixed", help=FIXED_WIDTH)
        else:
            st.number_input(
                "Width", value=1.0, step=0.25, key="launch_width", help="Channel width multiplier."
            )

    row = st.columns(2)
    with row[0], field("method"):
        method = st.selectbox("Method", list(methods), key="launch_method")
        st.caption(methods[method]["description"] if method else "")
    recipes = {r["name"]: r for r in catalog["recipes"] if r["task"] == task}
    with row[1], field("recipe"):
        recipe = st.selectbox(
            "Recipe",
            [None, *recipes],
            format_func=lambda r: f"default for {task}" if r is None else f"{r} ({recipes[r]['model']})",
            key="launch_recipe",
        )
        if recipe:
            st.caption(recipes[recipe]["description"])
            with st.expander("Recipe hyperparameters"):
                st.dataframe(
                    mapping_frame(recipes[recipe]["hparams"], "hyperparameter", "value").astype(str),
                    hide_index=True,
                    key="launch_recipe_table",
                )

    if method:
        method_params(methods[method], task)
        if methods[method]["needs_teachers"]:
            teacher_field(task)

    row = st.columns(3)
    with row[0], field("seed"):
        st.number_input("Seed", value=0, step=1, key="launch_seed")
    with row[1], field("epochs"):
        st.number_input("Epochs", value=None, step=1, key="launch_epochs", placeholder="recipe's")
    with row[2], field("limit"):
        st.number_input("Training samples", value=None, step=1, key="launch_limit", placeholder="all")

    st.button(
        "Submit run",
        type="primary",
        icon=":material/rocket_launch:",
        key="launch_submit",
        on_click=_submit,
        args=(catalog, experiments),
    )


def outcome() -> None:
    errors = st.session_state.get(ERRORS, {})
    for name, messages in errors.items():
        if name not in rendered:  # GENERAL, or a field this form did not draw
            for message in messages:
                st.error(message if name == GENERAL else f"{name}: {message}", icon=":material/error:")
    run = st.session_state.get(RESULT)
    if run:
        st.success(f"Run #{run['id']} is {run['status']} on queue {run['queue']}.", icon=":material/check:")
        run_link(run["id"])


api = get_api()
st.title("Launch a run")
launch_form(call(api.get_catalog), call(api.list_experiments))
outcome()
