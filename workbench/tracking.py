"""Training jobs and evaluation runs logged to MLflow when WORKBENCH_MLFLOW_URI is set; adapters as model versions.

What is logged comes from the job's own files once it has ended (spec, metrics.jsonl, the adapter; the run's
records, scores and HTML report), so tracking never slows or fails a job: an unreachable server becomes a
warning in the job's log and a `tracking.json` saying so beside the records, and `sync` logs the same job again
later from the same files. Each fine-tune is a version of the registered model named after its training
dataset (the task it learns), tagged with the adapter's name, the dataset hash and the base model: rollback is
picking the previous version.
Called lazily by `finetune.train` and `evaluation.runs` at the end of their jobs.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from workbench.files import write_json_atomic
from workbench.settings import Settings

RECORD = "tracking.json"  # in the job's (or run's) folder: where it was logged, or why it was not
TRAIN_EXPERIMENT = "workbench-finetune"
EVAL_EXPERIMENT = "workbench-evaluation"
_MAX_PARAM = 6000  # MLflow's limit on a parameter value


class TrackingError(RuntimeError):
    """MLflow could not be reached or refused a request; the message is meant for the user."""


def tracking_uri(settings: Settings) -> str | None:
    """The MLflow tracking URI, "local" resolved to a sqlite store under storage/mlflow/; None when off."""
    uri = (settings.mlflow_uri or "").strip()
    if not uri:
        return None
    if uri == "local":
        folder = settings.storage / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"
    return uri


def _client(settings: Settings):
    # A server that is down must cost seconds, not MLflow's default of 7 retries with backoff over minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment(client, settings: Settings, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if (settings.mlflow_uri or "").strip() == "local":  # a sqlite store would put artifacts under the cwd
        location = (settings.storage / "mlflow" / "artifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def _params(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and len(json.dumps(v)) > 250:
            out.update(_params(v, key + "."))
        else:
            text = v if isinstance(v, str) else json.dumps(v)
            out[key] = text[:_MAX_PARAM]
    return out


def _log_batch(client, run_id: str, params: dict | None = None, metrics=()) -> None:
    from mlflow.entities import Metric, Param

    params = [Param(k, v) for k, v in (params or {}).items()]
    metrics = list(metrics)
    for i in range(0, max(len(params), 1), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=[Metric(k, float(v), ts, step) for k, v, ts, step in metrics[i:i + 1000]])


def _guarded(settings: Settings, folder: Path, what: str, log: Callable[[str], None], work) -> dict | None:
    """Run `work(client)` when tracking is on; a failure is a warning in the log and a record, never raised."""
    if tracking_uri(settings) is None:
        return None
    try:
        rec = work(_client(settings))
    except Exception as e:  # tracking must never fail the job: its records stay in the workbench
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        log(f"WARNING: MLflow tracking of this {what} failed ({msg}); nothing is lost: its records stay in "
            f"{folder}, and workbench.tracking.sync logs them once MLflow is reachable.")
        write_json_atomic(folder / RECORD, {"state": "failed", "error": msg, "uri": settings.mlflow_uri,
                                            "at": time.time()})
        return None
    rec = {"state": "logged", "uri": settings.mlflow_uri, "at": time.time(), **rec}
    write_json_atomic(folder / RECORD, rec)
    log(f"tracked in MLflow: run {rec['run_id']}" + (f", model version {rec['model']} v{rec['version']}"
                                                      if rec.get("version") else ""))
    return rec


def track_training(settings: Settings, job_dir: Path, result: dict | None = None,
                   log: Callable[[str], None] = print) -> dict | None:
    """Log a finished fine-tune (spec, per-step metrics, adapter) and register its adapter as a model version.

    `result` is the job's result (the handler's, before the worker stores it); None reads the stored one."""
    if tracking_uri(settings) is None:
        return None
    from workbench.finetune.adapters import AdapterRegistry
    from workbench.jobs.store import read_metrics, read_spec, read_status

    def work(client) -> dict:
        spec = read_spec(job_dir)
        res = result if result is not None else (read_status(job_dir).result or {})
        info = AdapterRegistry(settings).get(res["adapter"])
        exp = _experiment(client, settings, TRAIN_EXPERIMENT)
        tags = {"workbench.job_id": job_dir.name, "workbench.adapter": info.name, "base_model": info.base_model,
                "dataset": info.dataset, "dataset_hash": info.dataset_hash}
        run = client.create_run(exp, run_name=info.name, tags=tags)
        rid = run.info.run_id
        metrics = []
        for m in read_metrics(job_dir):
            ts = int(m.get("t", time.time()) * 1000)
            metrics += [(k, v, ts, int(m.get("step") or 0)) for k, v in m.items()
                        if k not in ("t", "step") and isinstance(v, (int, float)) and not isinstance(v, bool)]
        finals = {k: v for k, v in res.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        now = int(time.time() * 1000)
        metrics += [(f"final.{k}", v, now, 0) for k, v in finals.items()]
        _log_batch(client, rid, _params(spec), metrics)
        _log_adapter_files(client, rid, info.path)
        client.log_dict(rid, spec, "spec.json")
        client.set_terminated(rid, "FINISHED")
        model = info.dataset or info.name
        version = _register(client, model, f"{run.info.artifact_uri}/adapter", rid, tags)
        return {"run_id": rid, "experiment_id": exp, "model": model, "version": version}

    return _guarded(settings, job_dir, "training job", log, work)


def _log_adapter_files(client, rid: str, folder: Path) -> None:
    """The PEFT files only (not the exports beside them, which are hundreds of MB)."""
    for f in sorted(folder.iterdir()):
        if f.is_file():
            client.log_artifact(rid, str(f), "adapter")


def _register(client, name: str, source: str, run_id: str, tags: dict) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="LoRA adapters trained in the workbench on this "
                                                         "dataset; each version is one training job")
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return client.create_model_version(name, source, run_id=run_id, tags=tags).version


def track_evaluation(settings: Settings, run_id: str, log: Callable[[str], None] = print) -> dict | None:
    """Log a finished evaluation run: its spec, per-setup metrics with 95 % intervals, and the HTML report."""
    if tracking_uri(settings) is None:
        return None
    from workbench.evaluation.metrics import Rate
    from workbench.evaluation.report import build_report, to_html
    from workbench.evaluation.runs import load_run, run_dir
    from workbench.evaluation.scoring import score_run

    folder = run_dir(settings, run_id)

    def work(client) -> dict:
        rec = load_run(settings, run_id)
        rs = score_run(rec)
        spec = {k: v for k, v in rec.spec.to_json().items() if k != "recipe"}
        exp = _experiment(client, settings, EVAL_EXPERIMENT)
        tags = {"workbench.run_id": run_id, "question_set": rec.spec.set_name,
                "adapter": rec.spec.adapter or "", "label": rec.spec.label}
        run = client.create_run(exp, run_name=rec.spec.label or run_id, tags=tags)
        rid = run.info.run_id
        now = int(time.time() * 1000)
        metrics = []
        for setup, summ in rs.summaries.items():
            for key, value in vars(summ).items():
                if isinstance(value, Rate):
                    lo, hi = value.interval
                    metrics += [(f"{setup}.{key}", value.value, now, 0), (f"{setup}.{key}.ci_low", lo, now, 0),
                                (f"{setup}.{key}.ci_high", hi, now, 0), (f"{setup}.{key}.n", value.n, now, 0)]
                elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "setup":
                    metrics.append((f"{setup}.{key}", value, now, 0))
        _log_batch(client, rid, _params(spec), metrics)
        client.log_dict(rid, rec.spec.to_json(), "spec.json")
        if rec.summary:
            client.log_dict(rid, rec.summary, "summary.json")
        client.log_text(rid, to_html(build_report(rs)), "report.html")
        client.set_terminated(rid, "FINISHED" if rs.complete else "KILLED")
        return {"run_id": rid, "experiment_id": exp}

    return _guarded(settings, folder, "evaluation run", log, work)


def sync(settings: Settings, log: Callable[[str], None] = print) -> list[dict]:
    """Log every ended training job and evaluation run whose tracking failed (or never ran); their records."""
    from workbench import jobs
    from workbench.evaluation.runs import list_runs, run_dir

    done = []
    for js in jobs.list_jobs(settings, kind="finetune"):
        d = settings.jobs_dir / js.job_id
        if js.state == jobs.SUCCEEDED and _pending(d):
            done.append(track_training(settings, d, log=log))
    for rid in list_runs(settings):
        d = run_dir(settings, rid)
        if (d / "summary.json").is_file() and _pending(d):
            done.append(track_evaluation(settings, rid, log))
    return [r for r in done if r]


def _pending(folder: Path) -> bool:
    try:
        return json.loads((folder / RECORD).read_text()).get("state") != "logged"
    except (OSError, ValueError):
        return True


if __name__ == "__main__":  # python -m workbench.tracking: log what an unreachable server missed
    for r in sync(Settings.from_env()):
        print(r)
