"""The Arena page through AppTest: empty storage, bad input, and ask -> five streamed answers with stats."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.pages import app_page, rendered_text
from tests.test_generator_adapters import gen, lora_adapter  # noqa: F401  (fixtures)
from workbench.ui import state

DOC = ("Keelhouse support policy. Support hours are 14:00 to 17:00 Eastern Time, Monday to Friday. "
       "Critical incidents get a first response within 1 hour. The TideLog T3 warranty lasts 24 months.")


@pytest.fixture(autouse=True)
def fresh_resources(fresh_ui_caches):
    """Each test's own storage root, not an earlier test's cached settings and knowledge base."""


def test_renders_on_empty_storage_and_rejects_empty_question():
    at = app_page("pages/arena.py", 60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Arena"
    assert any("No collection yet" in i.value for i in at.info)
    # No recipe stored: every column but Prompted, which could only say that it needs one.
    assert at.multiselect(key="arena_setups").value == ["base", "rag", "finetuned", "hybrid"]
    assert at.selectbox(key="arena_recipe").value == "none"
    # Independent questions unless the user switches conversation mode on; New conversation at the top.
    assert at.toggle(key="arena_conversation").value is False
    assert at.button(key="arena_new").label == "New conversation"
    at.chat_input[0].set_value("   ").run()
    assert not at.exception
    assert any("The question is empty" in e.value for e in at.error)
    at.chat_input[0].set_value("x" * 30_000).run()
    assert any("accepts up to 20,000" in e.value for e in at.error)


@pytest.mark.slow
def test_ask_gives_five_answers_with_stats_citations_and_blind_votes(settings, real_embedder, gen, lora_adapter):
    from workbench.answering.sample import load as load_sample_recipe, sample_recipe
    from workbench.arena.blind import VoteBook
    from workbench.knowledge import KnowledgeBase
    from workbench.retrieval import load_defaults, retrieve

    kb = KnowledgeBase(settings)
    col = kb.create("support")
    col.ingest([("support_policy.txt", DOC.encode())])
    shutil.copytree(lora_adapter, settings.adapters_dir / "demo-lora")
    wrong = shutil.copytree(lora_adapter, settings.adapters_dir / "wrong-base")
    cfg = json.loads((wrong / "adapter_config.json").read_text())
    (wrong / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": "meta-llama/Llama-3.1-8B"}))
    load_sample_recipe(settings)
    recipe = sample_recipe()

    at = app_page("pages/arena.py", 600).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="arena_setups").value == ["base", "prompted", "rag", "finetuned", "hybrid"]
    assert at.selectbox(key="arena_recipe").value == "sample-json"  # the recipe there is, latest version
    at.selectbox(key="arena_adapter").set_value("demo-lora")
    at.number_input(key="arena_max_new").set_value(8)
    question = "What are the support hours?"
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]

    conv = at.session_state[state.ARENA_CONV]
    answers = conv.turns[0].answers
    assert list(answers) == ["base", "prompted", "rag", "finetuned", "hybrid"]
    for a in answers.values():
        assert a.error is None and a.text and 0 < a.stats.completion_tokens <= 8
    # The citations are exactly what the retrieval lab returns for the same settings.
    expected = [h.chunk.chunk_id for h in retrieve(col, question, load_defaults(settings, "support"))]
    for s in ("rag", "hybrid"):
        assert [p.chunk.chunk_id for p in answers[s].passages] == expected
        assert "Support hours are 14:00" in answers[s].prompt
        # The cost of the context is visible: the RAG prompt is much longer than the bare one.
        assert answers[s].stats.prompt_tokens > answers["base"].stats.prompt_tokens + 30
    assert answers["base"].passages == () and "Context:" not in answers["finetuned"].prompt
    # The recipe reaches the Prompted and RAG prompts (instructions, then its examples as chat turns), and no other.
    shot = recipe.shots[0].user
    for s in ("prompted", "rag"):
        assert recipe.instructions in answers[s].prompt and shot in answers[s].prompt
        assert answers[s].prompt.index(shot) < answers[s].prompt.index(question)
    for s in ("base", "finetuned", "hybrid"):
        assert recipe.instructions not in answers[s].prompt and shot not in answers[s].prompt
    assert answers["prompted"].passages == () and answers["prompted"].stats.prompt_tokens > \
        answers["base"].stats.prompt_tokens + 200  # the recipe's price, paid on this question
    assert conv.settings["adapter"] == "demo-lora" and conv.settings["collection"] == "support"
    assert conv.settings["recipe"] == "sample-json v1" and conv.settings["recipe_with_adapter"] is False
    captions = [c.value for c in at.caption if c.value.startswith("latency")]
    assert len(captions) == 5 and all("tok/s" in c and "prompt" in c for c in captions)
    assert [h.value for h in at.subheader][:5] == ["Base model", "Prompted (recipe)", "RAG", "Fine-tuned",
                                                   "Hybrid (fine-tuned + RAG)"]
    # One passage list per turn, each passage an anchor; the RAG answer links the passage it copied from.
    shown = " ".join(rendered_text(m.value) for m in at.markdown)
    assert '<span id="arena-t0-p1" style="scroll-margin-top: 4rem"></span>' in shown and "**[1]** support_policy.txt" in shown
    assert "Support hours are 14:00" in " ".join(t.value for t in at.text)

    # Blind mode: unlabelled columns, a vote reveals them and is tallied on disk.
    at.toggle(key="arena_blind").set_value(True).run()
    assert [h.value for h in at.subheader][:5] == ["Answer A", "Answer B", "Answer C", "Answer D", "Answer E"]
    # Before the vote nothing tells the setups apart but the answers: no citations, sizes or prompts.
    assert not any(e.label == "Prompt sent to the model" for e in at.expander)
    assert not any("arena-t0-p1" in m.value for m in at.markdown)
    assert not any("tok/s" in c.value for c in at.caption)
    assert sum("appear after the vote" in c.value for c in at.caption) == 5
    order = at.session_state[state.ARENA_BLIND_ORDERS][0]
    at.button(key="arena_vote_0_1").click().run()
    assert not at.exception
    assert VoteBook(settings).tally().wins == {order[1]: 1}
    assert any(h.value.startswith("Answer B: ") and h.value.endswith("(voted best)") for h in at.subheader)
    assert any('<span id="arena-t0-p1"' in m.value for m in at.markdown)
    assert sum("tok/s" in c.value for c in at.caption) == 5

    # An unreachable endpoint serving the base column fails only that column; the fine-tuned one answers,
    # with the first turn as its history (conversation mode), and now with the recipe too.
    at.toggle(key="arena_blind").set_value(False)
    at.toggle(key="arena_conversation").set_value(True)
    at.toggle(key="arena_recipe_with_adapter").set_value(True)
    at.multiselect(key="arena_setups").set_value(["base", "finetuned"])
    at.radio(key="arena_source").set_value("OpenAI-compatible endpoint").run()
    at.text_input(key="arena_ep_url").set_value("http://127.0.0.1:9/v1")
    at.text_input(key="arena_ep_model").set_value("big-model")
    at.chat_input[0].set_value("And on weekends?").run()
    assert not at.exception, [e.value for e in at.exception]
    second = at.session_state[state.ARENA_CONV].turns[1].answers
    assert "unreachable" in second["base"].error and second["finetuned"].error is None
    assert second["finetuned"].text and "What are the support hours?" in second["finetuned"].prompt
    assert recipe.instructions in second["finetuned"].prompt
    assert at.session_state[state.ARENA_CONV].settings["recipe_with_adapter"] is True
    assert any("unreachable" in e.value for e in at.error)

    # An adapter made for another base model is refused in its columns with a clear message.
    at.radio(key="arena_source").set_value("Local model")
    at.multiselect(key="arena_setups").set_value(["finetuned"])
    at.toggle(key="arena_conversation").set_value(False)
    at.selectbox(key="arena_adapter").set_value("wrong-base").run()
    at.chat_input[0].set_value("Hello?").run()
    assert not at.exception
    refused = at.session_state[state.ARENA_CONV].turns[2].answers["finetuned"]
    assert "meta-llama/Llama-3.1-8B" in refused.error and refused.text == ""
    assert at.session_state[state.ARENA_CONV].settings["conversation_mode"] is False
    assert any("Llama-3.1-8B" in rendered_text(e.value) for e in at.error)

    # Independent questions (the default): nothing of the earlier turns reaches the prompt.
    at.selectbox(key="arena_adapter").set_value("demo-lora")
    at.chat_input[0].set_value("Is there a warranty?").run()
    alone = at.session_state[state.ARENA_CONV].turns[3].answers["finetuned"]
    assert alone.error is None and "What are the support hours?" not in alone.prompt
    at.button(key="arena_new").click().run()
    assert not at.exception and at.session_state[state.ARENA_CONV].turns == ()


def test_home_walks_a_presenter_through_the_demo():
    from workbench.ui.home import demo_script

    at = app_page("pages/home.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(h.value.startswith("Presenting? A 5-minute demo") for h in at.subheader)
    steps = demo_script()
    assert [s[0] for s in steps] == sorted(s[0] for s in steps) and steps[-1][0] < "5:00"
    says = " ".join(rendered_text(m.value) for m in at.markdown)
    for _, _, _, do, say, see in steps:
        assert f"**Say:** {say}" in says and see in says
    # The demo questions are the arena's suggestions, and step 1 names the document RAG reads for the first one.
    import json

    from workbench.arena.suggestions import suggested_questions
    from workbench.sample import DATA

    qs = suggested_questions()
    assert len(qs) >= 3 and all(f'"{q.question}"' in says for q in qs[:3])
    gold = {r["id"]: r for r in map(json.loads, (DATA / "eval.jsonl").read_text().splitlines())}
    first = next(r for r in gold.values() if r["question"] == qs[0].question)
    step1 = next(s for s in steps if qs[0].question in s[3])
    assert first["source_document"] in step1[5] and qs[0].reference in step1[5], step1[5]
