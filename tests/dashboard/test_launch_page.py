"""Launch page: a form built from the catalog; the API's 422 messages land under their fields."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import OpenPage, Seeded
from tests.support import Stack

LAUNCH_PAGE = "app_pages/launch.py"


def field_messages(at: AppTest, name: str) -> list[str]:
    """Errors shown in a field's box, checking they come right after the widget they concern."""
    box = at.container(f"launch_field_{name}")
    errors = [e.value for e in box.error]
    if errors:
        kinds = [node.type for node in box.children.values()]
        # The widget comes first and its messages directly under it.
        assert kinds[0] != "error" and kinds[-len(errors) :] == ["error"] * len(errors), kinds
    return errors


def new_experiment(at: AppTest, name: str = "dashboard-launched") -> None:
    """Launch into an experiment of its own (created on the first submit, reused after), keeping seeds intact."""
    at.radio(key="launch_experiment_mode").set_value("new").run()
    at.text_input(key="launch_experiment_name").input(name)


def test_form_options_come_from_the_catalog(open_page: OpenPage, live_stack: Stack) -> None:
    at = open_page(LAUNCH_PAGE)
    assert not at.exception, at.exception
    with live_stack.client() as client:
        catalog = client.get("/catalog").json()
    tasks = [o.removesuffix(" (needs its dataset)") for o in at.selectbox(key="launch_task").options]
    assert tasks == [t["name"] for t in catalog["tasks"]]
    assert at.selectbox(key="launch_method").options == [m["name"] for m in catalog["methods"]]
    for task in catalog["tasks"]:  # models and recipes follow the chosen task
        at.selectbox(key="launch_task").select(task["name"]).run()
        assert not at.exception, at.exception
        fitting = [m["name"] for m in catalog["models"] if task["name"] in m["tasks"]]
        assert at.selectbox(key="launch_model").options == fitting
        recipes = [f"{r['name']} ({r['model']})" for r in catalog["recipes"] if r["task"] == task["name"]]
        assert at.selectbox(key="launch_recipe").options == [f"default for {task['name']}", *recipes]


def test_width_out_of_range_shows_the_api_message_under_width(open_page: OpenPage, seeded: Seeded) -> None:
    at = open_page(LAUNCH_PAGE)
    new_experiment(at)
    at.number_input(key="launch_width").set_value(0.0)
    at.button(key="launch_submit").click().run()
    assert not at.exception, at.exception
    assert field_messages(at, "width") == ["Input should be greater than 0"]
    assert field_messages(at, "model") == [] and field_messages(at, "experiment") == []
    assert not at.success


def test_empty_new_experiment_name_shows_the_api_message_under_experiment(open_page: OpenPage) -> None:
    at = open_page(LAUNCH_PAGE)
    at.radio(key="launch_experiment_mode").set_value("new").run()
    at.button(key="launch_submit").click().run()
    assert not at.exception, at.exception
    assert field_messages(at, "experiment") == ["String should have at least 1 character"]


def test_submitting_the_form_launches_a_run(open_page: OpenPage, live_stack: Stack) -> None:
    at = open_page(LAUNCH_PAGE)
    new_experiment(at)
    at.number_input(key="launch_width").set_value(0.5)
    at.number_input(key="launch_seed").set_value(3)
    at.number_input(key="launch_epochs").set_value(2)
    at.button(key="launch_submit").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    run_id = int(at.success[0].value.split("#")[1].split()[0])
    [link] = [link for link in at.page_link if link.proto.query_string == f"run={run_id}"]

    with live_stack.client() as client:
        run = client.get(f"/runs/{run_id}").json()
        experiments = {e["id"]: e["name"] for e in client.get("/experiments").json()["data"]}
    assert experiments[run["experiment_id"]] == "dashboard-launched"
    assert run["spec"]["model"]["width"] == 0.5 and run["spec"]["seed"] == 3 and run["spec"]["epochs"] == 2
    assert run["spec"]["teachers"] == []
    finished = live_stack.wait_for_status(run_id, {"succeeded", "failed", "cancelled"}, timeout=180)
    assert finished["status"] == "succeeded", finished["error"]


def teacher_methods(stack: Stack) -> list[dict]:
    with stack.client() as client:
        return [m for m in client.get("/catalog").json()["methods"] if m["needs_teachers"]]


def test_teachers_and_method_params_are_offered_when_the_method_needs_them(
    open_page: OpenPage, seeded: Seeded, live_stack: Stack
) -> None:
    at = open_page(LAUNCH_PAGE)
    assert "launch_teachers" not in [m.key for m in at.multiselect]  # erm takes no teachers
    # A method whose parameters all have defaults, so teachers are all it needs.
    methods = [m for m in teacher_methods(live_stack) if None not in m["params"].values()]
    if not methods:
        pytest.skip("the catalog offers no method that needs only teachers yet")
    method = methods[0]
    at.selectbox(key="launch_method").select(method["name"]).run()
    assert not at.exception, at.exception
    teachers = at.multiselect(key="launch_teachers")
    assert any(label.startswith(f"#{seeded.trained_run['id']} ") for label in teachers.options)
    for param in method["params"]:
        assert at.container(f"launch_field_method_{param}")  # one widget per catalog parameter

    new_experiment(at)  # reruns the page: look the teachers widget up again
    at.multiselect(key="launch_teachers").select(seeded.trained_run["id"])
    at.number_input(key="launch_epochs").set_value(1)
    at.button(key="launch_submit").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    run_id = int(at.success[0].value.split("#")[1].split()[0])
    with live_stack.client() as client:
        run = client.get(f"/runs/{run_id}").json()
        client.post(f"/runs/{run_id}/cancel")  # only the submission is under test: free the worker
    assert run["teachers"] == [seeded.trained_run["id"]]
    assert run["spec"]["method"] == {"name": method["name"], **method["params"]}


def test_method_parameter_errors_show_under_the_parameter(
    open_page: OpenPage, seeded: Seeded, live_stack: Stack
) -> None:
    methods = [m for m in teacher_methods(live_stack) if "temperature" in m["params"]]
    if not methods:
        pytest.skip("the catalog offers no method with a temperature yet")
    name = methods[0]["name"]
    at = open_page(LAUNCH_PAGE)
    new_experiment(at)
    at.selectbox(key="launch_method").select(name).run()
    at.multiselect(key="launch_teachers").select(seeded.trained_run["id"])
    at.number_input(key=f"launch_param_{name}_temperature").set_value(0.0)
    at.button(key="launch_submit").click().run()
    assert not at.exception, at.exception
    assert field_messages(at, "method_temperature") == ["temperature must be > 0"]
    assert not at.success


def test_an_invalid_run_creates_no_experiment(open_page: OpenPage, live_stack: Stack) -> None:
    at = open_page(LAUNCH_PAGE)
    new_experiment(at, "dashboard-never-created")
    at.number_input(key="launch_width").set_value(0.0)
    at.button(key="launch_submit").click().run()
    assert not at.exception, at.exception
    assert field_messages(at, "width") == ["Input should be greater than 0"]
    with live_stack.client() as client:
        names = {e["name"] for e in client.get("/experiments").json()["data"]}
    assert "dashboard-never-created" not in names


def test_generator_run_and_mode_are_choices_not_free_text(open_page: OpenPage, live_stack: Stack) -> None:
    at = open_page(LAUNCH_PAGE)
    at.selectbox(key="launch_method").select("xcl-gan").run()
    assert not at.exception, at.exception
    mode = at.selectbox(key="launch_param_xcl-gan_mode")
    assert mode.options == ["online", "offline"] and mode.value == "online"
    generator = at.selectbox(key="launch_param_xcl-gan_generator_run")
    with live_stack.client() as client:
        gans = client.get("/runs", params={"method": "gan", "status": "succeeded", "task": "digits"}).json()
    assert len(generator.options) == len(gans["data"])
    assert generator.value is None


def test_recipes_show_as_a_table_and_tasks_without_bundled_data_are_flagged(open_page: OpenPage) -> None:
    at = open_page(LAUNCH_PAGE)
    names = [o for o in at.selectbox(key="launch_recipe").options if o != "default for digits"]
    assert names, "the catalog has a digits recipe"
    at.selectbox(key="launch_recipe").set_value(names[0].split(" (")[0]).run()
    assert not at.exception, at.exception
    [table] = [d for d in at.dataframe if "hyperparameter" in d.value.columns]
    assert (
        list(table.value.columns) == ["hyperparameter", "value"]
        and "lr" in table.value["hyperparameter"].tolist()
    )

    task = at.selectbox(key="launch_task")
    assert "cifar100 (needs its dataset)" in task.options and "digits" in task.options
    task.set_value("cifar100").run()
    assert not at.exception, at.exception
    assert "not bundled" in at.warning[0].value
