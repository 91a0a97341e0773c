"""Answering one question under one setup: its chat messages, a streamed answer, errors kept in Answer.error."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT, RAG_TEMPLATE, Passage, chat_messages
from workbench.answering.recipes import Recipe
from workbench.answering.setups import needing_recipe, setup as setup_of, uses_recipe
from workbench.models.generator import GenerationConfig
from workbench.models.registry import ModelError
from workbench.types import Answer, GenerationStats, ScoredChunk

# Shown to the model when retrieval found nothing, so the RAG column says so instead of silently
# becoming the base column.
NO_CONTEXT = "(no passages were found in the collection)"
# Answer.note of an answer cut short by its reader (the arena's Stop): its text is what was written so far.
STOPPED_NOTE = "Stopped: the answer was cut short here."


def to_passage(sc: ScoredChunk) -> Passage:
    """The prompt-side view of a retrieved chunk."""
    return Passage(text=sc.chunk.text, source=sc.chunk.doc_name, page=sc.chunk.page, page_end=sc.chunk.page_end)


def build_messages(setup: str, question: str, passages: Sequence[ScoredChunk] = (),
                   system_prompt: str | None = DEFAULT_SYSTEM_PROMPT, history: Sequence[dict] = (),
                   recipe: Recipe | None = None, recipe_with_adapter: bool = False) -> list[dict]:
    """The chat messages one setup sends: RAG context only for setups that retrieve.

    A recipe (for the setups that use it) replaces the system prompt with its own and puts its
    few-shot examples as real chat turns before the conversation.
    """
    retrieves = setup_of(setup).retrieves
    if recipe is not None and uses_recipe(setup, recipe_with_adapter):
        system_prompt, history = recipe.system_prompt() or None, [*recipe.turns(), *history]
    if retrieves and not passages:
        msgs = chat_messages(question, None, system_prompt, history)
        msgs[-1]["content"] = RAG_TEMPLATE.format(context=NO_CONTEXT, question=question.strip())
        return msgs
    used = [to_passage(p) for p in passages] if retrieves else None
    return chat_messages(question, used, system_prompt, history)


class AnswerStream:
    """Iterate for text pieces as they are generated; `.answer` holds the finished Answer afterwards."""

    def __init__(self, setup: str, question: str, *, generator, passages: Sequence[ScoredChunk] = (),
                 adapter_path: str | Path | None = None, cfg: GenerationConfig = GenerationConfig(),
                 system_prompt: str | None = DEFAULT_SYSTEM_PROMPT, history: Sequence[dict] = (),
                 recipe: Recipe | None = None, recipe_with_adapter: bool = False):
        self.setup = setup
        uses = setup_of(setup)
        self.question = question
        self.generator = generator
        self.passages = tuple(passages) if uses.retrieves else ()
        self.adapter_path = adapter_path if uses.adapter else None
        self.cfg = cfg
        self.system_prompt = system_prompt
        self.history = tuple(history)
        self.recipe = recipe if uses_recipe(setup, recipe_with_adapter) else None
        self.answer: Answer | None = None
        self.text = ""

    def __iter__(self) -> Iterator[str]:
        stats: list[GenerationStats] = []
        prepared: list = []
        notes: list[str] = []
        prompt = ""
        uses = setup_of(self.setup)
        try:
            if not self.question.strip():
                raise ValueError("The question is empty.")
            if uses.adapter and not self.adapter_path:
                raise ValueError("Pick an adapter for the fine-tuned and hybrid columns.")
            if self.recipe is None and self.setup in needing_recipe():
                raise ValueError(f"Pick a prompt recipe for the {uses.short_label} column.")
            if uses.retrieves and not self.passages:
                notes.append("No passages were retrieved; the model was told so.")
            messages = build_messages(self.setup, self.question, self.passages, self.system_prompt,
                                      self.history, self.recipe, recipe_with_adapter=True)
            prompt = self.generator.render(messages)
            pieces = self.generator.stream(messages, self.cfg, stats_out=stats, adapter=self.adapter_path,
                                           prepared_out=prepared)
            try:
                for piece in pieces:
                    self.text += piece
                    yield piece
            except GeneratorExit:
                # The reader stopped (rerun, Stop button): keep what was said so far, free the model.
                pieces.close()
                self.answer = stopped_answer(self.setup, self.text, self.passages, prompt)
                raise
            error = None
        except (ModelError, ValueError, OSError) as e:  # shown in this column; the others still answer
            error = str(e)
        if prepared:
            prompt = prepared[0].prompt
            if prepared[0].note:
                notes.insert(0, prepared[0].note)
        self.answer = Answer(setup=self.setup, text=self.text.strip(), stats=stats[0] if stats else None,
                             passages=self.passages, prompt=prompt, error=error,
                             note=" ".join(notes) or None)


def stopped_answer(setup: str, text: str = "", passages: Sequence[ScoredChunk] = (), prompt: str = "") -> Answer:
    """An answer cut short (or never started) by a stop: the text so far, marked with STOPPED_NOTE."""
    return Answer(setup, text.strip(), None, tuple(passages), prompt, note=STOPPED_NOTE)


def is_stopped(a: Answer) -> bool:
    return a.note == STOPPED_NOTE


def stream_answer(setup: str, question: str, *, generator, passages: Sequence[ScoredChunk] = (),
                  adapter_path: str | Path | None = None, cfg: GenerationConfig = GenerationConfig(),
                  system_prompt: str | None = DEFAULT_SYSTEM_PROMPT, history: Sequence[dict] = (),
                  recipe: Recipe | None = None, recipe_with_adapter: bool = False) -> AnswerStream:
    """A streaming answer for one setup; see the package docstring."""
    return AnswerStream(setup, question, generator=generator, passages=passages, adapter_path=adapter_path,
                        cfg=cfg, system_prompt=system_prompt, history=history, recipe=recipe,
                        recipe_with_adapter=recipe_with_adapter)


def answer_question(setup: str, question: str, *, generator, passages: Sequence[ScoredChunk] = (),
                    adapter_path: str | Path | None = None, cfg: GenerationConfig = GenerationConfig(),
                    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT, history: Sequence[dict] = (),
                    recipe: Recipe | None = None, recipe_with_adapter: bool = False) -> Answer:
    """One setup's whole answer to one question (errors in Answer.error, never raised)."""
    s = stream_answer(setup, question, generator=generator, passages=passages, adapter_path=adapter_path,
                      cfg=cfg, system_prompt=system_prompt, history=history, recipe=recipe,
                      recipe_with_adapter=recipe_with_adapter)
    for _ in s:
        pass
    return s.answer


def drain(stream: AnswerStream, cancelled: Callable[[], bool] = lambda: False) -> tuple[Answer, float] | None:
    """Read `stream` to its end: (answer, seconds taken), or None when `cancelled()` turned true mid-answer.

    `cancelled` is checked after every piece, so a cancel stops waiting within one token. Unlike
    `answer_question`, an exception the stream does not keep (a crash in the model) also becomes
    Answer.error ("Type: message"), so a batch of answers goes on.
    """
    t0 = time.perf_counter()
    pieces = iter(stream)
    try:
        for _ in pieces:
            if cancelled():
                pieces.close()  # frees the model; the cut answer is dropped (a resumed batch redoes it)
                return None
    except Exception as e:
        return Answer(stream.setup, "", None, stream.passages, error=f"{type(e).__name__}: {e}"), \
            time.perf_counter() - t0
    return stream.answer, time.perf_counter() - t0
