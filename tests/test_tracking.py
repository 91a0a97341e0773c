"""MLflow tracking against a real `mlflow server` on loopback: training jobs (spec, per-step metrics, adapter,
a model version per fine-tune), evaluation runs (spec, per-setup metrics with intervals, the HTML report), and
a server that is down (the job succeeds, a warning in its log, `sync` logs it later)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

import pytest

from tests.servers import free_port, stop_process
from tests.test_evaluation_runs import FakeGenerator
from tests.fakes import final_status, tiny_dataset
from workbench import finetune, jobs, tracking
from workbench.evaluation import runs
from workbench.evaluation.sample import sample_items
from workbench.finetune.adapters import AdapterRegistry
from workbench.finetune.spec import TrainSpec
from workbench.settings import Settings

pytestmark = pytest.mark.usefixtures("stop_jobs")
TINY = dict(dataset="tiny", batch_size=4, max_seq_len=64, val_fraction=0.25, max_val_examples=3,
            lr_schedule="constant", learning_rate=5e-3, seed=1, max_steps=2, val_interval=1)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (sqlite backend, proxied artifacts) on a free loopback port."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art")],
        stdout=open(root / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            stop_process(proc)
            raise RuntimeError("mlflow server did not start: " + (root / "server.log").read_text()[-2000:])
        time.sleep(0.5)
    yield url
    stop_process(proc)


def client(url):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def the_run(c, experiment: str, tag: str, value: str):
    exp = c.get_experiment_by_name(experiment)
    found = c.search_runs([exp.experiment_id], filter_string=f"tags.`{tag}` = '{value}'")
    assert len(found) == 1, found
    return found[0]


def test_settings_read_the_uri_and_local_is_a_sqlite_store_under_storage(tmp_path):
    assert Settings.from_env({}).mlflow_uri is None
    s = Settings.from_env({"WORKBENCH_MLFLOW_URI": "local", "WORKBENCH_STORAGE": str(tmp_path)})
    assert tracking.tracking_uri(s) == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert tracking.tracking_uri(Settings.from_env({})) is None
    # Off: nothing is logged and nothing is written.
    assert tracking.track_evaluation(Settings(storage=tmp_path), "nope") is None
    assert not (tmp_path / "evals").exists()


def evaluation_run(settings):
    items = [i for i in sample_items()[:4]]
    run_id = runs.create_run(settings, runs.RunSpec(set_name="sample", setups=("base",), label="tracked"), items)
    ctx = runs.PlainContext()
    runs.execute(settings, run_id, ctx, generator=FakeGenerator())
    return run_id, ctx


def test_evaluation_run_logs_spec_metrics_with_intervals_and_report(settings, mlflow_server):
    settings = replace(settings, mlflow_uri=mlflow_server)
    run_id, ctx = evaluation_run(settings)
    record = json.loads((runs.run_dir(settings, run_id) / tracking.RECORD).read_text())
    assert record["state"] == "logged", ctx.lines
    c = client(mlflow_server)
    run = the_run(c, tracking.EVAL_EXPERIMENT, "workbench.run_id", run_id)
    assert run.info.run_id == record["run_id"] and run.info.status == "FINISHED"
    assert run.data.params["set_name"] == "sample" and run.data.params["setups"] == '["base"]'
    m = run.data.metrics
    # The fake generator answers "I don't know." without context: 0 of 4 well-formed, with a Wilson interval.
    assert m["base.format_ok"] == 0.0 and m["base.format_ok.n"] == 4
    assert m["base.format_ok.ci_low"] == 0.0 and 0.4 < m["base.format_ok.ci_high"] < 0.6
    arts = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {"report.html", "spec.json", "summary.json"} <= arts
    html = c.download_artifacts(run.info.run_id, "report.html", str(settings.storage))
    assert "<!DOCTYPE html>" in open(html).read()


def test_local_is_a_sqlite_store_with_its_artifacts_under_storage(settings):
    settings = replace(settings, mlflow_uri="local")
    run_id, ctx = evaluation_run(settings)
    record = json.loads((runs.run_dir(settings, run_id) / tracking.RECORD).read_text())
    assert record["state"] == "logged", ctx.lines
    c = client(tracking.tracking_uri(settings))
    run = the_run(c, tracking.EVAL_EXPERIMENT, "workbench.run_id", run_id)
    assert run.data.metrics["base.format_ok.n"] == 4
    reports = list((settings.storage / "mlflow" / "artifacts").rglob("report.html"))
    assert len(reports) == 1 and (settings.storage / "mlflow" / "mlflow.db").is_file()


def test_mlflow_down_the_run_still_ends_with_a_warning_and_sync_logs_it_later(settings, mlflow_server):
    down = replace(settings, mlflow_uri=f"http://127.0.0.1:{free_port()}")
    t0 = time.time()
    run_id, ctx = evaluation_run(down)
    assert time.time() - t0 < 60  # a dead server costs seconds, not MLflow's minutes of retries
    assert (runs.run_dir(down, run_id) / "summary.json").is_file()
    assert any(line.startswith("WARNING: MLflow tracking of this evaluation run failed") for line in ctx.lines)
    assert json.loads((runs.run_dir(down, run_id) / tracking.RECORD).read_text())["state"] == "failed"
    logged = tracking.sync(replace(settings, mlflow_uri=mlflow_server), log=lambda _m: None)
    assert len(logged) == 1
    the_run(client(mlflow_server), tracking.EVAL_EXPERIMENT, "workbench.run_id", run_id)
    assert tracking.sync(replace(settings, mlflow_uri=mlflow_server)) == []  # once logged, never twice


@pytest.mark.slow
def test_training_jobs_log_spec_steps_adapter_and_a_model_version_each(settings, mlflow_server, monkeypatch):
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", mlflow_server)  # the job's worker reads its settings from env
    tiny_dataset(settings)
    versions = []
    for name in ("tiny-lora", "tiny-lora-2"):  # two fine-tunes on one dataset: versions 1 and 2 of its model
        job = finetune.launch(Settings.from_env(), TrainSpec(adapter_name=name, **TINY))
        done = final_status(settings, job.job_id, 300)
        assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(settings.jobs_dir / job.job_id)
        versions.append((job.job_id, done.result["adapter"]))
    c = client(mlflow_server)
    for n, (job_id, adapter) in enumerate(versions, 1):
        run = the_run(c, tracking.TRAIN_EXPERIMENT, "workbench.job_id", job_id)
        info = AdapterRegistry(settings).get(adapter)
        assert run.data.params["learning_rate"] == "0.005" and run.data.params["adapter_name"] == adapter
        assert [h.step for h in c.get_metric_history(run.info.run_id, "loss")] == [1, 2]
        assert [h.step for h in c.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
        assert {a.path for a in c.list_artifacts(run.info.run_id, "adapter")} >= {
            "adapter/adapter_model.safetensors", "adapter/adapter_config.json"}
        mv = c.get_model_version("tiny", str(n))
        assert mv.run_id == run.info.run_id
        assert mv.tags["dataset_hash"] == info.dataset_hash and mv.tags["base_model"] == info.base_model
        assert mv.tags["workbench.adapter"] == adapter
        assert "tracked in MLflow" in jobs.log_tail(settings.jobs_dir / job_id, 400)
    assert [a for _, a in versions] == ["tiny-lora", "tiny-lora-2"]
    # Rollback is picking the previous version: its adapter files come back from MLflow and load with peft.
    from peft import PeftConfig

    back = c.download_artifacts(c.get_model_version("tiny", "1").run_id, "adapter", str(settings.storage / "rb"))
    assert PeftConfig.from_pretrained(back).r == 8


@pytest.mark.slow
def test_mlflow_down_training_job_succeeds_warns_and_keeps_everything(settings, monkeypatch, mlflow_server):
    monkeypatch.setenv("WORKBENCH_MLFLOW_URI", f"http://127.0.0.1:{free_port()}")
    tiny_dataset(settings)
    job = finetune.launch(Settings.from_env(), TrainSpec(adapter_name="offline", **TINY))
    done = final_status(settings, job.job_id, 300)
    job_dir = settings.jobs_dir / job.job_id
    assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(job_dir)
    assert "WARNING: MLflow tracking of this training job failed" in jobs.log_tail(job_dir, 400)
    assert AdapterRegistry(settings).exists("offline") and len(jobs.read_metrics(job_dir)) == 2
    logged = tracking.sync(replace(settings, mlflow_uri=mlflow_server), log=lambda _m: None)
    assert [r["model"] for r in logged] == ["tiny"]
    mv = client(mlflow_server).get_model_version("tiny", logged[0]["version"])
    assert mv.tags["workbench.adapter"] == "offline" and mv.tags["workbench.job_id"] == job.job_id
    run = the_run(client(mlflow_server), tracking.TRAIN_EXPERIMENT, "workbench.job_id", job.job_id)
    assert len(client(mlflow_server).get_metric_history(run.info.run_id, "loss")) == 2
