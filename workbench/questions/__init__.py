"""Question sets: the one `Question` type, the one parser, named sets on disk, the synthetic-question generator.

Retrieval evaluation, the chunk sweep and the four-setup evaluation all read the same files:

    from workbench.questions import parse_questions, save_set, load_set
    qs = parse_questions(data, "set.csv", max_mb=20)  # QuestionSet(name, questions, errors=(RowError(line, reason),))
    save_set(settings, "mine", qs.questions)           # storage/evals/sets/mine.jsonl
    load_set(settings, "mine")                          # -> [Question(id, question, reference, ...)]

A file-level problem (type, size, encoding, no rows) raises `QuestionSetError`; a bad row becomes a
`workbench.types.RowError` and the other rows still load. Which questions a use can score is its own
business: retrieval needs a gold passage (`workbench.retrieval.gold.relevance_fn`), answer scoring needs
a `reference` (unanswerable questions carry "unknown").

`synthesize(chunks, generator, n, answers=...)` writes one question per sampled chunk (span = that
chunk) and, with `answers=True`, answers it from the chunk: the fine-tune data builder's QA pairs.
"""
from workbench.questions.parsing import (
    FILE_TYPES, check_format_spec, load_question_file, parse_questions, question_from_row, sample_question_set,
)
from workbench.questions.question import Question, QuestionSet, QuestionSetError, to_jsonl
from workbench.questions.store import delete_set, list_sets, load_set, save_set, sets_dir
from workbench.questions.synthetic import Synthesis, synthesize, synthetic_question_set

__all__ = [
    "FILE_TYPES", "Question", "QuestionSet", "QuestionSetError", "Synthesis", "check_format_spec",
    "delete_set", "list_sets", "load_question_file", "load_set", "parse_questions", "question_from_row",
    "sample_question_set", "save_set", "sets_dir", "synthesize", "synthetic_question_set", "to_jsonl",
]
