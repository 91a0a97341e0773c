"""One name rule for collections, adapters, datasets and question sets (workbench/names.py)."""
from __future__ import annotations

import json
import re

import pytest

from workbench.finetune import datasets as ds
from workbench.finetune.adapters import AdapterError, AdapterRegistry
from workbench.knowledge import CollectionConfig, KnowledgeBase, KnowledgeError
from workbench.names import InvalidName, check_name, time_id

# Every name the sample workspace and the tests use today, and what the rule adds (any script, brackets).
GOOD = ["sample-kb", "sample-behaviour", "halueval-qa", "sample", "sample workspace eval set", "Product docs",
        "tiny-lora", "kb1", "a", "v1.2_final", "Über uns (v2)", "データ", "x" * 64, "report-"]
BAD = ["", "   ", ".", "..", "a/b", "a\\b", "../x", "a..b", ".hidden", "-flag", "_x", "ends.", "x" * 65,
       "tab\there", "new\nline", "a:b", 'quo"te', "semi;colon", "CON", "nul.txt", "com1", "\U00020000" * 49]


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass_unchanged(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", BAD)
def test_bad_names_are_refused_with_a_message_naming_the_kind(name):
    with pytest.raises(InvalidName) as e:
        check_name(name, "question set")
    assert isinstance(e.value, ValueError)
    msg = str(e.value)
    assert "question set" in msg and (msg.startswith("A question set needs a name") or "not a valid" in msg)


def test_whitespace_is_stripped_unicode_normalised_and_case_kept():
    assert check_name("  My Docs \n") == "My Docs"
    assert check_name("Cafe\u0301") == "Caf\u00e9"  # macOS-style decomposed accent: the same name as typed on Linux
    assert check_name("Docs") != check_name("docs")


def test_the_domain_error_is_raised_when_asked_for():
    with pytest.raises(KnowledgeError, match="not a valid collection name"):
        check_name("a/b", "collection", KnowledgeError)
    with pytest.raises(AdapterError, match="An adapter needs a name"):
        check_name(" ", "adapter", AdapterError)


def test_collections_follow_the_rule(settings):
    kb = KnowledgeBase(settings)
    for name in ("sample-kb", "Über uns (v2)", "v1.2_final"):
        assert kb.create(name, CollectionConfig(embedding_model="fake")).name == name
    for bad in ("a/b", "..", "_x", "ends.", "CON"):
        with pytest.raises(KnowledgeError, match="not a valid collection name"):
            kb.create(bad)
        with pytest.raises(KnowledgeError, match="not a valid collection name"):
            kb.rename("sample-kb", bad)
    kb.rename("sample-kb", "  renamed kb ")
    assert "renamed kb" in kb.names()


def test_datasets_follow_the_rule(settings):
    examples = [ds.Example((("user", f"q{i}"), ("assistant", "a")), i) for i in range(3)]
    for name in ("sample-behaviour", "Über uns (v2)", "my data"):
        assert ds.save_dataset(settings, name, examples, source="test").name == name
    for bad in ("a/b", "..", ".hidden", "ends."):
        with pytest.raises(ds.DatasetError, match="not a valid dataset name"):
            ds.save_dataset(settings, bad, examples, source="test")
    assert sorted(d.name for d in ds.list_datasets(settings)) == ["my data", "sample-behaviour", "Über uns (v2)"]


def test_adapters_follow_the_rule(settings):
    reg = AdapterRegistry(settings)
    folder = settings.adapters_dir / "tiny-lora"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "base"}))
    assert reg.rename("tiny-lora", "tiny lora (v2)").name == "tiny lora (v2)"  # spaces and brackets, as elsewhere
    for bad in ("../x", "a/b", ".hidden", "ends.", "x" * 65):
        with pytest.raises(AdapterError, match="not a valid adapter name"):
            reg.rename("tiny lora (v2)", bad)
    assert [a.name for a in reg.list()] == ["tiny lora (v2)"]


def test_question_sets_follow_the_rule(settings):
    from workbench.questions import Question, QuestionSetError, delete_set, list_sets, load_set, save_set

    q = [Question("a", "Q?", "A")]
    for name in ("sample workspace eval set", "Über uns (v2)", "v1.2_final"):
        save_set(settings, name, q)
        assert load_set(settings, name) == q
    save_set(settings, "  Cafe\u0301 ", q)  # stripped and NFC-normalised, as every other name
    assert load_set(settings, "Caf\u00e9") == q
    for bad in ("../evil", "a/b", ".hidden", "ends.", "CON", "x" * 65):
        with pytest.raises(QuestionSetError, match="not a valid question set name"):
            save_set(settings, bad, q)
        with pytest.raises(QuestionSetError, match="not a valid question set name"):
            load_set(settings, bad)
        with pytest.raises(QuestionSetError, match="not a valid question set name"):
            delete_set(settings, bad)
    assert list_sets(settings) == ["Café", "sample workspace eval set", "v1.2_final", "Über uns (v2)"]


def test_time_ids_sort_by_creation_even_within_one_second():
    ids = [time_id("eval") for _ in range(200)]  # far more than one per microsecond tick on most clocks
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert re.fullmatch(r"\d{8}-\d{6}-\d{6}-eval-[0-9a-f]{6}", ids[0])


def test_run_ids_made_in_a_tight_loop_list_in_creation_order(settings):
    from workbench.evaluation import runs
    from workbench.evaluation.sample import sample_items

    items = sample_items()[:1]
    made = [runs.create_run(settings, runs.RunSpec(set_name="t", setups=("base",)), items) for _ in range(8)]
    assert runs.list_runs(settings) == made[::-1]  # newest first


def test_a_collection_keeps_its_retrieval_defaults_through_a_rename_and_loses_them_on_delete(settings):
    from workbench.retrieval import RetrievalSettings, load_defaults, save_defaults

    kb = KnowledgeBase(settings)
    kb.create("alpha", CollectionConfig(embedding_model="fake"))
    mine = RetrievalSettings(mode="bm25", k=7)
    save_defaults(settings, mine, "alpha")
    kb.rename("alpha", "beta")
    assert load_defaults(settings, "beta") == mine
    kb.create("alpha", CollectionConfig(embedding_model="fake"))
    assert load_defaults(settings, "alpha") == RetrievalSettings()  # a new collection under the old name
    kb.delete("beta")
    kb.create("beta", CollectionConfig(embedding_model="fake"))
    assert load_defaults(settings, "beta") == RetrievalSettings()
