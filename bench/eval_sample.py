"""The four-setup evaluation on the sample workspace: the numbers behind docs/EVALUATION.md's tables.

    .venv/bin/python bench/eval_sample.py            # full: 53 questions x 4 setups (~20-30 min on 2 CPU cores)
    .venv/bin/python bench/eval_sample.py --quick    # 2 questions, short answers: about a minute
    --adapter-path DIR  use an adapter folder directly (e.g. a job's checkpoint)
    --limit N       only the first N questions
    --adapter NAME  use a registered adapter; without it the newest adapter is used, or, with --train,
                    one is trained first with the "Quick CPU demo" preset (~8 min on 2 cores)
    --freshness     afterwards change the sample fact, re-index, re-run the affected questions

Uses the storage of WORKBENCH_STORAGE (default ./storage) and loads the sample workspace into it.
The naive baseline is the base model measured in the same run; every other setup is printed against it.
Last line: RESULT hybrid_usable_gain_points=<hybrid - base, share of answers correct and well-formed, in
points> target=+20 ok|short
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from workbench.answering.setups import SETUPS, short_label  # noqa: E402
from workbench.evaluation import freshness, runs  # noqa: E402
from workbench.evaluation.decision import recommend  # noqa: E402
from workbench.evaluation.report import build_report, summary_table, to_html  # noqa: E402
from workbench.evaluation.sample import SAMPLE_SET  # noqa: E402
from workbench.evaluation.scoring import score_run  # noqa: E402
from workbench.questions import load_set  # noqa: E402
from workbench.settings import Settings  # noqa: E402

TARGET_POINTS = 20.0  # hybrid must beat the base model by this many points of usable (correct + well-formed) answers
COLLECTION = "sample-kb"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure_adapter(settings: Settings, name: str | None, train: bool) -> str | None:
    from workbench.finetune.adapters import AdapterRegistry

    reg = AdapterRegistry(settings)
    if name:
        reg.get(name)
        return name
    existing = sorted(reg.list(), key=lambda a: a.created_at, reverse=True)
    if existing:
        return existing[0].name
    if not train:
        return None
    from workbench import jobs
    from workbench.finetune import launch, preset
    from workbench.finetune.sample import SAMPLE_NAME

    name = "quick-cpu-demo"
    st = launch(settings, preset("Quick CPU demo", SAMPLE_NAME, name))
    say(f"training adapter {name!r} with the Quick CPU demo preset (job {st.job_id})")
    while not (st := jobs.get(settings, st.job_id)).is_final:
        time.sleep(5)
        say(f"  training: {st.message} step {st.step}/{st.total}")
    if st.state != jobs.SUCCEEDED:
        raise SystemExit(f"training failed: {st.error}")
    return name


def print_table(rs) -> None:
    head, rows = summary_table(rs)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--adapter")
    ap.add_argument("--adapter-path", help="an adapter folder (PEFT format) instead of a registered adapter")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    ap.add_argument("--freshness", action="store_true")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--html", help="also write the HTML report here")
    args = ap.parse_args()

    settings = Settings.from_env().ensure_dirs()
    from workbench.sample.workspace import load_sample_workspace

    say("loading the sample workspace")
    for msg in load_sample_workspace(settings):
        say(f"  {msg}")
    adapter = None if args.adapter_path else ensure_adapter(settings, args.adapter, args.train)
    adapter_path = args.adapter_path or (runs.resolve_adapter(settings, adapter) if adapter else None)
    setups = tuple(s.key for s in SETUPS if adapter_path or not s.adapter)
    if not adapter_path:
        say("no adapter registered (train one with --train): evaluating base and RAG only")
    items = load_set(settings, SAMPLE_SET)
    ids = tuple(i.id for i in items)
    if args.quick:  # one fact, one unanswerable, short answers: a smoke run
        ids = ("q02", "q07")
        args.max_new_tokens = min(args.max_new_tokens, 24)
    elif args.limit:
        ids = ids[:args.limit]
    spec = runs.RunSpec(set_name=SAMPLE_SET, setups=setups, collection=COLLECTION, adapter=adapter,
                        adapter_path=adapter_path,
                        max_new_tokens=args.max_new_tokens, question_ids=ids,
                        label="bench quick" if args.quick else "bench sample")
    run_id = runs.create_run(settings, spec, items)
    say(f"run {run_id}: {len(ids)} questions x {len(setups)} setups, adapter {adapter or adapter_path}")
    ctx = runs.PlainContext(quiet=False)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(step, total, message=""):
        if time.perf_counter() - last[0] > 30 or step == total:
            last[0] = time.perf_counter()
            say(f"  {message}")

    ctx.progress = progress
    runs.execute(settings, run_id, ctx)
    wall = time.perf_counter() - t0
    rs = score_run(runs.load_run(settings, run_id))
    print()
    print(f"Sample workspace, {len(ids)} questions, max {args.max_new_tokens} new tokens, run {run_id} "
          f"({wall:.0f} s)")
    print_table(rs)
    base = rs.summaries["base"]
    print("\nAgainst the base model (naive baseline, same run):")
    for s, v in rs.summaries.items():
        if s == "base":
            continue
        parts = []
        for key, label in (("fact_correct", "facts"), ("format_ok", "format"), ("correct", "correct"),
                           ("usable", "usable")):
            a, b = base.value(key), v.value(key)
            if a is not None and b is not None:
                parts.append(f"{label} {100 * (b - a):+.0f} pts")
        lat = f", latency x{v.latency_s / base.latency_s:.2f}" if v.latency_s and base.latency_s else ""
        print(f"  {short_label(s):<11} " + ", ".join(parts) + lat)
    rec = recommend(rs)
    print(f"\nRecommendation: {rec.title}")
    for e in rec.evidence:
        print(f"  - {e}")
    if args.html:
        Path(args.html).write_text(to_html(build_report(rs)))
        say(f"HTML report: {args.html}")
    if args.freshness:
        change = freshness.sample_change()
        say(freshness.apply_change(settings, COLLECTION, change))
        after_id = runs.create_run(settings, freshness.after_spec(spec, change, run_id), items)
        try:
            runs.execute(settings, after_id, runs.PlainContext())
        finally:
            say(freshness.apply_change(settings, COLLECTION, change, revert=True))
        print("\nFreshness (before -> after re-indexing):")
        rows = freshness.before_after(runs.load_run(settings, run_id), runs.load_run(settings, after_id), change)
        if args.html:
            after_rs = score_run(runs.load_run(settings, after_id))
            Path(args.html).with_suffix(".freshness.html").write_text(
                to_html(build_report(after_rs, freshness_rows=rows)))
        for r in rows:
            print(f"  {r['question']} {short_label(r['setup']):<11} before: {r['before says']:<8} "
                  f"after: {r['after says']:<8} {r['after'][:70]!r}")
    top = rs.summaries.get("hybrid") or rs.summaries.get("rag")
    gain = 100 * ((top.value("usable") or 0) - (base.value("usable") or 0))
    print(f"RESULT hybrid_usable_gain_points={gain:+.1f} target=+{TARGET_POINTS:.0f} "
          f"{'ok' if gain >= TARGET_POINTS else 'short'}")


if __name__ == "__main__":
    main()
