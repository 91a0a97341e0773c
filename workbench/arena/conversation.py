"""Multi-turn comparisons: the turns asked so far, each setup's history, Markdown and JSON export."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone

from workbench.answering import setups
from workbench.answering.records import passage_to_json
from workbench.types import Answer, source_label


@dataclass(frozen=True)
class Turn:
    """One question put to every shown setup, and what each answered."""

    question: str
    answers: dict  # setup -> Answer
    asked_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


@dataclass(frozen=True)
class Conversation:
    """A side-by-side conversation: settings snapshot plus turns, oldest first."""

    turns: tuple[Turn, ...] = ()
    settings: dict = field(default_factory=dict)  # collection, adapter, retrieval, generation, system prompt

    def add(self, turn: Turn) -> "Conversation":
        return replace(self, turns=self.turns + (turn,))

    def history(self, setup: str) -> list[dict]:
        """Earlier turns of one setup as chat messages: bare questions (context is re-retrieved per turn)."""
        msgs: list[dict] = []
        for t in self.turns:
            a = t.answers.get(setup)
            if a is None or a.error or not a.text:
                continue
            msgs += [{"role": "user", "content": t.question}, {"role": "assistant", "content": a.text}]
        return msgs


def _answer_dict(a: Answer) -> dict:
    d = asdict(a)
    d["passages"] = [passage_to_json(p) for p in a.passages]
    if a.stats is not None:
        d["stats"]["tokens_per_s"] = a.stats.tokens_per_s
    return d


def to_json(conv: Conversation, votes: dict | None = None) -> str:
    """The whole comparison, every prompt, passage and number included."""
    doc = {
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": conv.settings,
        "turns": [{"question": t.question, "asked_at": t.asked_at,
                   "answers": {s: _answer_dict(a) for s, a in t.answers.items()}} for t in conv.turns],
    }
    if votes is not None:
        doc["votes"] = votes
    return json.dumps(doc, indent=2, default=str)


def stats_line(a: Answer) -> str:
    """Latency, TTFT, tokens/s, prompt and completion tokens in one line."""
    s = a.stats
    if s is None:
        return "no stats"
    ttft = f"{s.ttft_s:.2f} s" if s.ttft_s is not None else "n/a"
    return (f"latency {s.latency_s:.2f} s · first token {ttft} · {s.tokens_per_s:.1f} tok/s · "
            f"prompt {s.prompt_tokens} tok{f' ({s.prompt_reused} reused)' if s.prompt_reused else ''} · "
            f"completion {s.completion_tokens} tok")


def to_markdown(conv: Conversation) -> str:
    """A readable report of the comparison: per turn, each setup's answer, stats and citations."""
    out = ["# Arena comparison", ""]
    if conv.settings:
        out += ["## Settings", ""] + [f"- **{k}**: {v}" for k, v in conv.settings.items()] + [""]
    for i, t in enumerate(conv.turns, 1):
        out += [f"## Turn {i}: {t.question}", ""]
        for setup, a in t.answers.items():
            out += [f"### {setups.label(setup)}", ""]
            if a.error:
                out += [f"> Error: {a.error}", ""]
            else:
                out += [a.text or "_(empty answer)_", "", f"_{stats_line(a)}_", ""]
            if a.note:
                out += [f"> Note: {a.note}", ""]
            if a.passages:
                out += ["Citations:", ""]
                for p in a.passages:
                    where = source_label(p.chunk.doc_name, p.chunk.page, p.chunk.page_end)
                    out.append(f"{p.rank}. {where} ({p.metric} {p.score:.4g})")
                out.append("")
    return "\n".join(out)
