"""One question put to several setups: retrieve once, then one answer per setup, in the order given."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from workbench.answering.answer import AnswerStream, stream_answer
from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT
from workbench.answering.recipes import Recipe
from workbench.answering.setups import setup
from workbench.models.generator import GenerationConfig
from workbench.models.registry import ModelError
from workbench.types import Answer, ScoredChunk


class PreparedTurn:
    """A question with its passages retrieved; `start(key)` gives that setup's AnswerStream, or its failed Answer."""

    def __init__(self, question: str, keys: Sequence[str], passages: tuple[ScoredChunk, ...],
                 retrieval_error: str | None, *, local: Callable[[], object], endpoint: Callable[[], object] | None,
                 adapter_path: str | Path | None, cfg: GenerationConfig, system_prompt: str | None,
                 history_for: Callable[[str], Sequence[dict]], recipe: Recipe | None = None,
                 recipe_with_adapter: bool = False):
        self.question, self.keys = question, tuple(keys)
        self.recipe, self.recipe_with_adapter = recipe, recipe_with_adapter
        self.passages, self.retrieval_error = passages, retrieval_error
        self.local, self.endpoint = local, endpoint
        self.adapter_path, self.cfg, self.system_prompt, self.history_for = adapter_path, cfg, system_prompt, history_for

    def generator_for(self, key: str):
        """The endpoint for setups without an adapter when one is chosen (it cannot apply a LoRA), else the local model."""
        if self.endpoint is not None and not setup(key).adapter:
            return self.endpoint()
        return self.local()

    def start(self, key: str) -> AnswerStream | Answer:
        """An AnswerStream to read (once), or an Answer with the error that kept this setup from answering."""
        if setup(key).retrieves and self.retrieval_error:
            return Answer(key, "", error=self.retrieval_error)
        try:
            gen = self.generator_for(key)  # loaded here, not up front: a column waits only for its own model
        except ModelError as e:
            return Answer(key, "", error=str(e))
        return stream_answer(key, self.question, generator=gen, passages=self.passages,
                             adapter_path=self.adapter_path, cfg=self.cfg, system_prompt=self.system_prompt,
                             history=self.history_for(key), recipe=self.recipe,
                             recipe_with_adapter=self.recipe_with_adapter)

    def __iter__(self) -> Iterator[tuple[str, AnswerStream | Answer]]:
        """(key, start(key)) for every setup, in order; read each stream before taking the next."""
        for key in self.keys:
            yield key, self.start(key)


def prepare_turn(question: str, keys: Sequence[str], *, local: Callable[[], object],
                 endpoint: Callable[[], object] | None = None, collection=None, retrieval=None,
                 adapter_path: str | Path | None = None, cfg: GenerationConfig = GenerationConfig(),
                 system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                 history_for: Callable[[str], Sequence[dict]] = lambda key: (), recipe: Recipe | None = None,
                 recipe_with_adapter: bool = False) -> PreparedTurn:
    """Retrieve once (only when a chosen setup retrieves), so every such setup sees the same passages.

    `recipe` goes to the setups that use one (`setups.uses_recipe`). `local` and `endpoint` return a
    generator when first needed; `retrieval` is a RetrievalSettings
    (None: RetrievalSettings()). A missing collection or a failed retrieval becomes the error of each
    retrieving setup; the others still answer.
    """
    passages: tuple[ScoredChunk, ...] = ()
    error = None
    if any(setup(k).retrieves for k in keys):
        if collection is None:
            error = "No collection chosen: RAG and hybrid need one."
        else:
            from workbench.retrieval import RetrievalSettings, retrieve

            try:
                passages = tuple(retrieve(collection, question, retrieval or RetrievalSettings()))
            except (ModelError, ValueError, OSError) as e:
                error = f"Retrieval failed: {e}"
    return PreparedTurn(question, keys, passages, error, local=local, endpoint=endpoint, adapter_path=adapter_path,
                        cfg=cfg, system_prompt=system_prompt, history_for=history_for, recipe=recipe,
                        recipe_with_adapter=recipe_with_adapter)
