"""Run page: a trained run's report and curves, Cancel/Retry answers, and unknown ids."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PARKED_QUEUE, OpenPage, Seeded
from tests.factories import create_experiment, submit
from tests.support import Stack, digits_spec

RUN_PAGE = "app_pages/run.py"


def test_succeeded_run_shows_report_and_learning_curves(open_page: OpenPage, seeded: Seeded) -> None:
    run = seeded.trained_run
    at = open_page(RUN_PAGE, run=str(run["id"]))
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith(f"Run #{run['id']}")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "succeeded"
    assert metrics["Attempt"] == "1"
    assert metrics["test_top1"] == f"{run['summary']['test_top1']:.3f}"
    assert not at.toggle  # nothing left to refresh once a run has finished

    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: c for c in at.get("plotly_chart")}
    assert {"Loss", "Accuracy"} <= set(charts)
    accuracy = json.loads(charts["Accuracy"].proto.spec)["data"]
    assert "test_top1" in [trace["name"] for trace in accuracy]
    [top1] = [trace for trace in accuracy if trace["name"] == "test_top1"]
    assert top1["x"] == list(range(1, run["spec"]["epochs"] + 1))

    summary = at.dataframe[0].value
    assert "test_top1" in summary["metric"].tolist()
    assert [j for j in at.json if json.loads(j.proto.body) == run["spec"]]
    assert at.download_button(key="run_artifact_model.pt").label == "Download model.pt"
    [files] = [d.value for d in at.dataframe if "sha256" in d.value.columns]
    assert all(size.endswith(("B", "KiB", "MiB")) for size in files["size"])  # not raw byte counts
    assert at.subheader[0].value == f"Run #{run['id']}: erm · small-cnn@0.5 · seed 0 · digits"
    # A finished successful run can be neither cancelled nor retried.
    assert at.button(key="run_cancel").disabled and at.button(key="run_retry").disabled
    assert not at.button(key="run_rerun").disabled  # but it can be repeated to check it reproduces


def test_number_input_picks_a_run_and_updates_the_url(open_page: OpenPage, seeded: Seeded) -> None:
    at = open_page(RUN_PAGE)
    assert "Enter a run id" in at.info[0].value
    at.number_input(key="run_id_input").set_value(seeded.trained_run["id"]).run()
    assert not at.exception, at.exception
    assert at.query_params["run"] == str(seeded.trained_run["id"])
    assert at.get("plotly_chart")


def test_cancel_and_retry_show_the_api_answer(open_page: OpenPage, seeded: Seeded, live_stack: Stack) -> None:
    with live_stack.client() as client:
        run = submit(
            client, create_experiment(client, "dashboard-actions")["id"], queue=PARKED_QUEUE, seed=99
        )
    at = open_page(RUN_PAGE, run=str(run["id"]))
    assert at.toggle(key="run_live").value is True  # a queued run refreshes live
    assert at.button(key="run_retry").disabled

    at.button(key="run_cancel").click().run()
    assert not at.exception, at.exception
    assert "Cancel accepted" in at.success[0].value and "cancelled" in at.success[0].value
    with live_stack.client() as client:
        assert client.get(f"/runs/{run['id']}").json()["status"] == "cancelled"
    assert {m.label: m.value for m in at.metric}["Status"] == "cancelled"

    at.button(key="run_retry").click().run()
    assert not at.exception, at.exception
    assert "Retry accepted" in at.success[0].value and "attempt 2" in at.success[0].value
    with live_stack.client() as client:
        again = client.get(f"/runs/{run['id']}").json()
        assert (again["status"], again["attempt"]) == ("queued", 2)
        client.post(f"/runs/{run['id']}/cancel")


def test_unknown_run_shows_the_api_error(open_page: OpenPage, live_stack: Stack) -> None:
    at = open_page(RUN_PAGE, run="987654")
    assert not at.exception, at.exception
    assert "Run 987654 not found" in at.error[0].value
    assert not at.get("plotly_chart")

    at = open_page(RUN_PAGE, run="abc")
    assert not at.exception, at.exception
    assert "'abc' is not a run id" in at.error[0].value


def test_a_running_run_shows_its_epoch_elapsed_time_and_eta(open_page: OpenPage, live_stack: Stack) -> None:
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-progress")
        run = submit(client, experiment["id"], digits_spec(epochs=5), queue=PARKED_QUEUE)
        assert client.post(f"/runs/{run['id']}/claim", json={"worker_host": "fake"}).status_code == 200
        points = [{"key": "test_top1", "step": s, "value": 50.0 + s} for s in (1, 2)]
        assert client.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).status_code == 200
    try:
        deadline = time.monotonic() + 10
        while True:  # the API commits a metrics batch just after answering
            at = open_page(RUN_PAGE, run=str(run["id"]))
            assert not at.exception, at.exception
            [bar] = at.get("progress")
            if bar.proto.text.startswith("epoch 2/5") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert bar.proto.text.startswith("epoch 2/5 · ") and " elapsed · ETA " in bar.proto.text
        assert bar.proto.value == 40

        at = open_page()
        at.selectbox(key="runs_experiment").select(experiment["id"]).run()
        [row] = at.dataframe[0].value.to_dict("records")
        assert row["status"] == "running" and row["progress"].startswith("epoch 2/5 · ")
    finally:
        with live_stack.client() as client:
            client.post(f"/runs/{run['id']}/finish", json={"status": "cancelled"})


def test_rerun_and_verify_repeats_a_run_and_its_page_gives_the_verdict(
    open_page: OpenPage, live_stack: Stack
) -> None:
    # A run of its own, in an experiment of its own: the rerun joins its original's experiment, and the shared
    # seeded experiment must keep exactly one run for the runs page tests.
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-rerun")
        submitted = submit(client, experiment["id"], digits_spec(epochs=2, seed=11))
    original = live_stack.wait_for_status(submitted["id"], {"succeeded", "failed"}, timeout=240)
    assert original["status"] == "succeeded", original["error"]
    at = open_page(RUN_PAGE, run=str(original["id"]))
    button = at.button(key="run_rerun")
    assert not button.disabled  # a succeeded run can be repeated
    button.click().run()
    assert not at.exception, at.exception
    [message] = [m.value for m in at.success if "Rerun submitted as run #" in m.value]
    repeat_id = int(message.split("run #")[1].split(":")[0])
    with live_stack.client() as client:
        assert client.get(f"/runs/{repeat_id}").json()["rerun_of"] == original["id"]

    live_stack.wait_for_status(repeat_id, {"succeeded", "failed"}, timeout=240)
    at = open_page(RUN_PAGE, run=str(repeat_id))
    assert not at.exception, at.exception
    verdicts = [m.value for m in at.success if "Reproduced run" in m.value]
    assert verdicts == [f"Reproduced run #{original['id']} exactly: " + verdicts[0].split("exactly: ")[1]], [
        e.value for e in at.error
    ]
    assert "all equal" in verdicts[0]


def _chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_a_trained_run_shows_its_console_system_metrics_confusion_matrix_and_artifact_tree(
    open_page: OpenPage, seeded: Seeded
) -> None:
    run = seeded.trained_run
    at = open_page(RUN_PAGE, run=str(run["id"]))
    assert not at.exception, at.exception
    console = "\n".join(c.value for c in at.code)
    epochs = run["spec"]["epochs"]
    assert f"run {run['id']} epoch {epochs}/{epochs}: " in console and "test_top1=" in console
    titles = _chart_titles(at)
    assert {"CPU", "Memory", "Machine RAM"} <= set(titles)
    assert "Confusion matrix (test split), % of each true class" in titles
    [diagonal] = [c.value for c in at.caption if "on the diagonal" in c.value]
    percent = float(diagonal.split("·")[1].split("%")[0])
    assert percent == pytest.approx(run["summary"]["test_top1"], abs=0.01)  # the same test predictions
    at.radio(key=f"run_confusion_norm_{run['id']}").set_value("counts").run()
    assert "Confusion matrix (test split), counts" in _chart_titles(at)
    [tree] = [d.value for d in at.dataframe if "sha256" in d.value.columns]
    assert tree["name"].tolist() == ["model.pt", "📁 predictions/", "\u2003test.json"]
    # The summary lists training metrics only; the system samples have their charts.
    [summary] = [d.value for d in at.dataframe if "metric" in d.value.columns]
    assert not [k for k in summary["metric"] if k.startswith("system/")]


def test_a_failed_run_shows_the_traceback_from_its_console(open_page: OpenPage, live_stack: Stack) -> None:
    with live_stack.client() as client:
        run = submit(client, create_experiment(client, "dashboard-failed")["id"], digits_spec(limit=100_000))
    assert live_stack.wait_for_status(run["id"], {"failed", "succeeded"}, timeout=120)["status"] == "failed"
    at = open_page(RUN_PAGE, run=str(run["id"]))
    assert not at.exception, at.exception
    assert any("failed with this traceback" in e.value for e in at.error)
    [traceback] = [c.value for c in at.code if c.language == "python"]
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.endswith("ValueError: train_subset/limit=100000 exceeds the 1347 digits training images")
    # No training metric before the failure, but the system samples from its first second are charted.
    assert any("No metrics logged yet" in i.value for i in at.info) and "CPU" in _chart_titles(at)


def test_a_generator_run_shows_its_samples_and_its_student_links_to_it(
    open_page: OpenPage, seeded: Seeded, live_stack: Stack
) -> None:
    with live_stack.client() as client:
        experiment = create_experiment(client, "dashboard-gan")["id"]
        gan = submit(
            client, experiment, digits_spec(model={"name": "cgan", "width": 0.25}, method={"name": "gan"})
        )
        done = live_stack.wait_for_status(gan["id"], {"failed", "succeeded"}, timeout=180)
        assert done["status"] == "succeeded", done["error"]
        student_spec = digits_spec(
            method={"name": "xcl-gan", "generator_run": gan["id"]}, teachers=[seeded.trained_run["id"]]
        )
        student = submit(client, experiment, student_spec, queue=PARKED_QUEUE)
    grids = sorted(a["path"] for a in done["artifacts"] if a["path"].startswith("samples/"))
    assert grids == [f"samples/epoch_{e:04d}.png" for e in range(1, done["spec"]["epochs"] + 1)]
    try:
        at = open_page(RUN_PAGE, run=str(gan["id"]))
        assert not at.exception, at.exception
        slider = at.select_slider(key=f"run_samples_epoch_{gan['id']}")
        assert slider.options == [str(e) for e in range(1, done["spec"]["epochs"] + 1)]
        [image] = at.get("image")
        assert image.proto.imgs[0].caption.startswith("epoch 3: one row per class")
        slider.set_value(1).run()
        assert not at.exception and at.get("image")[0].proto.imgs[0].caption.startswith("epoch 1:")
        assert not [
            t for t in _chart_titles(at) if t.startswith("Confusion")
        ]  # a generator has no test split

        at = open_page(RUN_PAGE, run=str(student["id"]))
        assert not at.exception, at.exception
        assert [link for link in at.page_link if link.proto.query_string == f"run={gan['id']}"]
    finally:
        with live_stack.client() as client:
            client.post(f"/runs/{student['id']}/cancel")
