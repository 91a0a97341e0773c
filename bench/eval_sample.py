"""The five-setup evaluation of the sample workspace, in its own scratch storage: the numbers behind the README.

    .venv/bin/python bench/eval_sample.py --train     # full: train an adapter, 53 questions x 5 setups + the probe
    .venv/bin/python bench/eval_sample.py --quick     # 3 questions, no adapter, short answers: under a minute
    --adapter-path DIR  use this adapter folder (PEFT format) instead of training one
    --limit N           only the first N questions
    --storage DIR       keep the scratch storage here (default: a temp folder, deleted afterwards)
    --markdown FILE     also write the README table (k/n with 95 % intervals) there
    --html FILE         also write the HTML report

Never touches the user's ./storage: the sample workspace is loaded into scratch storage (the converted
bundled model is shared read-only). The baseline of every rung is the setup a user would otherwise keep,
measured in the same run on the same questions: Prompted against Base, RAG and Fine-tuned against Prompted,
Hybrid against the best single setup.

What the sample claims, and the RESULT gate (computed from the paired 95 % intervals, not fixed points):
retrieval adds facts (the RAG rung's interval lies above zero), fine-tuning fixes behaviour that the recipe
does not (the fine-tune rung's interval lies above zero) and hybrid beats the best single setup (its rung's
interval lies above zero). Last line: RESULT sample_claims_supported=<k>/<claims> target=<claims>/<claims> ok|short.
--quick is a smoke run (3 questions cannot support a claim): it gates on every answer arriving without error.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from workbench.answering import setups  # noqa: E402
from workbench.answering.recipes import load_recipe  # noqa: E402
from workbench.answering.sample import SAMPLE_RECIPE  # noqa: E402
from workbench.evaluation import forgetting, runs  # noqa: E402
from workbench.evaluation.decision import recommend  # noqa: E402
from workbench.evaluation.metrics import RATE_METRICS  # noqa: E402
from workbench.evaluation.report import build_report, to_html  # noqa: E402
from workbench.evaluation.sample import SAMPLE_SET  # noqa: E402
from workbench.evaluation.scoring import score_run  # noqa: E402
from workbench.questions import load_set  # noqa: E402
from workbench.settings import Settings  # noqa: E402

COLLECTION = "sample-kb"
CLAIMS = ("rag", "finetune", "hybrid")  # the rungs the sample exists to show; each must be "better"
SHOWN = ("usable", "fact_correct", "format_ok", "source_retrieved", "abstention")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train_adapter(settings: Settings) -> str:
    """Train the "Quick CPU demo" adapter on the sample behaviour dataset; returns its registered name."""
    from workbench import jobs
    from workbench.finetune import launch, preset
    from workbench.finetune.sample import SAMPLE_NAME

    name = "bench-quick-cpu-demo"
    st = launch(settings, preset("Quick CPU demo", SAMPLE_NAME, name))
    say(f"training adapter {name!r} with the Quick CPU demo preset (job {st.job_id})")
    t0 = time.perf_counter()
    while not (st := jobs.get(settings, st.job_id)).is_final:
        time.sleep(10)
        say(f"  training: {st.message} step {st.step}/{st.total}")
    if st.state != jobs.SUCCEEDED:
        raise SystemExit(f"training failed: {st.error}")
    say(f"trained in {time.perf_counter() - t0:.0f} s")
    return name


def scratch_settings(prefix: str) -> tuple[Settings, Path]:
    """Settings on a fresh scratch storage (the converted bundled model shared read only), and its folder."""
    shared_models = Settings.from_env().models_dir
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    return Settings(storage=scratch.resolve(), models_root=shared_models).ensure_dirs(), scratch


def sample_answers(settings: Settings, generator, chosen: tuple[str, ...], max_new_tokens: int,
                   limit: int = 0, label: str = "bench", adapter_path: str | None = None) -> tuple[object, float]:
    """The sample evaluation answered by `generator`: (RunScore, seconds spent answering, retrieval excluded).

    For comparing engines and batching on the same questions: same spec, same retrieval, only the generator
    (and its `parallel` width) differ. The sample workspace is loaded into `settings`' storage once, the
    knowledge base only when a setup retrieves."""
    import json

    from workbench.answering import setups as setup_defs
    from workbench.evaluation import sample as sample_set
    from workbench.sample.workspace import load_sample_workspace

    marker = settings.storage / ".sample-loaded"
    if any(s in setup_defs.retrieving() for s in chosen) and not marker.is_file():
        for _ in load_sample_workspace(settings):
            pass
        marker.write_text("1")
    elif not marker.is_file():
        from workbench.answering import sample as sample_recipe

        sample_set.load(settings)  # the question set and the recipe alone
        sample_recipe.load(settings)
    items = load_set(settings, SAMPLE_SET)
    ids = tuple(i.id for i in items)[:limit or None]
    spec = runs.RunSpec(set_name=SAMPLE_SET, setups=chosen, collection=COLLECTION, max_new_tokens=max_new_tokens,
                        question_ids=ids, recipe=load_recipe(settings, SAMPLE_RECIPE).to_json(), label=label,
                        adapter_path=adapter_path, probe=False)
    run_id = runs.create_run(settings, spec, items)
    t0 = time.perf_counter()
    runs.execute(settings, run_id, runs.PlainContext(), generator=generator)
    wall = time.perf_counter() - t0
    retrieved = runs.run_dir(settings, run_id) / "retrieved.jsonl"
    if retrieved.is_file():
        wall -= sum(json.loads(line).get("retrieval_s", 0.0) for line in retrieved.read_text().splitlines() if line)
    return score_run(runs.load_run(settings, run_id)), wall


def pooled_rate(rs, key: str) -> tuple[int, int]:
    """(k, n) of a rate metric over every setup of a scored run."""
    k = n = 0
    for s in rs.summaries.values():
        r = getattr(s, key, None)
        if r is not None and getattr(r, "n", 0):
            k, n = k + r.k, n + r.n
    return k, n


def rate_cell(summary, key: str) -> str:
    r = getattr(summary, key, None)
    if r is None or not getattr(r, "n", 0):
        return "-"
    lo, hi = r.interval
    return f"{r.k}/{r.n} ({100 * r.value:.0f}%, {100 * lo:.0f}-{100 * hi:.0f})"


def markdown(rs, rec, forget, wall_s: float) -> str:
    """The README table: rates as k/n with Wilson intervals, the ladder with paired intervals, the probe."""
    labels = dict(RATE_METRICS)
    keys = [k for k in SHOWN if any(getattr(s, k, None) is not None and getattr(s, k).n for s in rs.summaries.values())]
    out = ["| setup | " + " | ".join(labels.get(k, k) for k in keys) + " | errors | prompt tokens / answer |",
           "|---|" + "---|" * (len(keys) + 2)]
    for key, s in rs.summaries.items():
        cells = [rate_cell(s, k) for k in keys]
        tokens = f"{s.prompt_tokens:.0f}" if s.prompt_tokens else "-"
        out.append(f"| {setups.short_label(key)} | " + " | ".join(cells) + f" | {s.errors} | {tokens} |")
    out += ["", "| rung | difference (points) | 95 % interval | McNemar p | verdict |", "|---|---|---|---|---|"]
    for r in rec.rungs:
        c = r.comparison
        if c is None:
            out.append(f"| {r.question} | - | - | - | not measured |")
        else:
            out.append(f"| {r.name} ({r.outcome}, n={c.n}) | {c.diff:+.1f} | [{c.low:+.1f}, {c.high:+.1f}] | "
                       f"{c.p_value:.3g} | {r.verdict} |")
    out += ["", f"Verdict: **{rec.title}**. {rec.rule}"]
    if forget is not None:
        out += ["", "Forgetting probe (outside the sample's domain):", ""]
        out += [f"- {s}" for s in forget.sentences()]
    out += ["", f"({rs.record.run_id}, {wall_s:.0f} s on {os.cpu_count()} CPU cores.)"]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--adapter-path")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--storage")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--markdown")
    ap.add_argument("--html")
    args = ap.parse_args()

    shared_models = Settings.from_env().models_dir  # the converted bundled model, read only
    scratch = Path(args.storage) if args.storage else Path(tempfile.mkdtemp(prefix="wb-eval-sample-"))
    settings = Settings(storage=scratch.resolve(), models_root=shared_models).ensure_dirs()
    os.environ["WORKBENCH_STORAGE"] = str(settings.storage)  # job workers inherit the scratch storage
    os.environ["WORKBENCH_MODELS_DIR"] = str(shared_models)
    say(f"scratch storage {settings.storage}")
    try:
        run(args, settings)
    finally:
        if not args.storage:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args, settings: Settings) -> None:
    from workbench.sample.workspace import load_sample_workspace

    say("loading the sample workspace")
    for msg in load_sample_workspace(settings):
        say(f"  {msg}")
    adapter = adapter_path = None
    if args.adapter_path:
        adapter_path = str(Path(args.adapter_path).resolve())
    elif args.train and not args.quick:
        adapter = train_adapter(settings)
        adapter_path = runs.resolve_adapter(settings, adapter)
    recipe = load_recipe(settings, SAMPLE_RECIPE)
    chosen = tuple(k for k in setups.keys() if adapter_path or not setups.setup(k).adapter)
    items = load_set(settings, SAMPLE_SET)
    ids = tuple(i.id for i in items)
    if args.quick:  # a fact, a PDF fact and an unanswerable question, short answers: a smoke run
        ids, args.max_new_tokens = ("q02", "q07", ids[-1]), min(args.max_new_tokens, 32)
    elif args.limit:
        ids = ids[:args.limit]
    spec = runs.RunSpec(set_name=SAMPLE_SET, setups=chosen, collection=COLLECTION, adapter=adapter,
                        adapter_path=adapter_path, max_new_tokens=args.max_new_tokens, question_ids=ids,
                        recipe=recipe.to_json(), probe=bool(adapter_path) and not args.quick,
                        label="bench quick" if args.quick else "bench sample")
    run_id = runs.create_run(settings, spec, items)
    say(f"run {run_id}: {len(ids)} questions x {len(chosen)} setups ({', '.join(chosen)}), recipe {recipe.ref}, "
        f"adapter {adapter or adapter_path or 'none'}")
    ctx = runs.PlainContext(quiet=False)
    last = [0.0]

    def progress(step, total, message=""):
        if time.perf_counter() - last[0] > 30 or step == total:
            last[0] = time.perf_counter()
            say(f"  {message}")

    ctx.progress = progress
    t0 = time.perf_counter()
    runs.execute(settings, run_id, ctx)
    wall = time.perf_counter() - t0
    rec_run = runs.load_run(settings, run_id)
    rs = score_run(rec_run)
    rec = recommend(rs)
    forget = forgetting.for_run(rec_run)
    table = markdown(rs, rec, forget, wall)
    print("\n" + table + "\n")
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    if args.html:
        Path(args.html).write_text(to_html(build_report(rs)))
    if args.quick:
        errors = sum(s.errors for s in rs.summaries.values())
        print(f"RESULT quick_answer_errors={errors} target=0 {'ok' if errors == 0 else 'short'}")
        return
    claims = [k for k in CLAIMS if adapter_path or k == "rag"]
    supported = [k for k in claims if (r := rec.rung(k)) is not None and r.verdict == "better"]
    for k in claims:
        r = rec.rung(k)
        say(f"claim {k}: {r.text() if r else 'not measured'}")
    print(f"RESULT sample_claims_supported={len(supported)}/{len(claims)} target={len(claims)}/{len(claims)} "
          f"{'ok' if len(supported) == len(claims) else 'short'}")


if __name__ == "__main__":
    main()
