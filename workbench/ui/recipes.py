"""Sections of the Prompt recipes page (library, editor, what the model sees and its token cost, delete), and
the recipe picker the arena and the evaluation share."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from workbench.answering import build_messages
from workbench.answering.recipes import (
    MAX_EXAMPLES, Recipe, RecipeError, Shot, delete_recipe, list_recipes, load_recipe, pick_shots, save_recipe,
    versions,
)
from workbench.answering.sample import SAMPLE_RECIPE
from workbench.answering.setups import BASE, PROMPTED
from workbench.finetune import datasets as ds
from workbench.models.registry import ModelError
from workbench.settings import Settings
from workbench.ui import safe, state, tables
from workbench.ui.resources import base_tokenizer

NEW_RECIPE = "(new recipe)"
NO_RECIPE = "none"
PREVIEW_QUESTION = "What are your support hours?"


def flash(msg: str, kind: str = "success") -> None:
    state.flash(state.RECIPE_FLASH, msg, kind)


def show_flash() -> None:
    state.show_flash(state.RECIPE_FLASH)


# --- the picker shared by the arena and the Run evaluation page ------------------------------------

def recipe_choice(settings: Settings, key: str, container=st) -> Recipe | None:
    """A picker over the stored recipes (latest version each) and "none"; the chosen Recipe, or None."""
    names = list_recipes(settings)
    options = [NO_RECIPE, *names]
    default = SAMPLE_RECIPE if SAMPLE_RECIPE in names else (names[0] if names else NO_RECIPE)
    pick = container.selectbox("Prompt recipe (Prompted, RAG)", options, index=options.index(default), key=key,
                               help="The latest version of a recipe from the Prompt recipes page: its instructions "
                                    "and format replace the system prompt, its examples go in as chat turns.")
    if pick == NO_RECIPE:
        return None
    try:
        return load_recipe(settings, pick)
    except RecipeError as e:
        container.error(safe.text(e))
        return None


def with_adapter_toggle(key: str, container=st) -> bool:
    """The switch that makes the fine-tuned and hybrid setups answer with the recipe too."""
    return container.toggle("Fine-tuned and hybrid use the recipe too", key=key,
                            help="Off: the adapter setups get the plain system prompt, as they were trained. On: "
                                 "they get the recipe as well, which shows whether recipe and fine-tune add up.")


# --- the Prompt recipes page -------------------------------------------------------------------------

def _table(settings: Settings, names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        try:
            r = load_recipe(settings, name)
        except RecipeError as e:
            rows.append({"recipe": name, "latest": None, "examples": None, "saved": "", "note": str(e)})
            continue
        rows.append({"recipe": name, "latest": f"v{r.version}", "examples": len(r.shots),
                     "saved": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.saved_at)), "note": r.note})
    return pd.DataFrame(rows)


def library_section(settings: Settings) -> Recipe | None:
    """The stored recipes and the choice of one (and its version) to edit; a blank recipe for a new one."""
    names = list_recipes(settings)
    if (nxt := st.session_state.pop(state.RECIPE_NEXT, None)) is not None:
        # Before the pickers exist in this run: the one moment a keyed widget's value may be set from code.
        st.session_state[state.RECIPE_PICK] = nxt if nxt in names else NEW_RECIPE
        st.session_state.pop(f"recipe_version__{nxt}", None)
    if names:
        tables.show(_table(settings, names))
    else:
        st.info("No recipe yet: write one below, or start from the sample's recipe for its JSON answers.")
        if st.button("Load the sample recipe", icon=":material/download:"):
            from workbench.answering.sample import load

            try:
                flash(f"Saved {load(settings)}.")
            except RecipeError as e:
                st.error(safe.text(e))
                return None
            st.session_state[state.RECIPE_NEXT] = SAMPLE_RECIPE
            st.rerun()
    # A value set from code above must meet index 0, or Streamlit reports two defaults.
    index = 1 if names and state.RECIPE_PICK not in st.session_state else 0
    pick = st.selectbox("Recipe", [NEW_RECIPE, *names], index=index, key=state.RECIPE_PICK)
    if pick == NEW_RECIPE or pick not in names:
        return Recipe(name="")
    nums = versions(settings, pick)[::-1]
    version = st.selectbox("Version", nums, key=f"recipe_version__{pick}",
                           format_func=lambda v: f"v{v}" + (" (latest)" if v == nums[0] else ""))
    try:
        return load_recipe(settings, pick, version)
    except RecipeError as e:
        st.error(safe.text(e))
        return None


def _draft(source: Recipe, gen: int) -> dict:
    return {"source": (source.name, source.version), "gen": gen, "name": source.name,
            "instructions": source.instructions, "format": source.format,
            "shots": [[s.user, s.assistant] for s in source.shots], "note": source.note}


def _dataset_pairs(settings: Settings, name: str) -> list[tuple[str, str]]:
    """(user, assistant) of each example: its answer and the user turn right before it."""
    pairs = []
    for ex in ds.load_examples(settings, name):
        if len(ex.messages) >= 2 and ex.messages[-2][0] == "user":
            pairs.append((ex.messages[-2][1], ex.completion))
    return pairs


def _shots_editor(settings: Settings, d: dict) -> tuple[list[list[str]], tuple | None]:
    """The examples' text boxes, add/remove and the dataset picker; (the shots as typed, the action asked for)."""
    g, shots, action = d["gen"], [], None
    st.markdown(f"**Few-shot examples** ({len(d['shots'])}): they go before the question as real chat turns, "
                "a user message and the assistant's answer each.")
    for i, (user, assistant) in enumerate(d["shots"]):
        c1, c2, c3 = st.columns([6, 6, 1], vertical_alignment="center")
        user = c1.text_area(f"Example {i + 1}: user", user, key=f"recipe_{g}_user_{i}", height=110)
        assistant = c2.text_area(f"Example {i + 1}: assistant", assistant, key=f"recipe_{g}_assistant_{i}",
                                 height=110)
        if c3.button("Remove", key=f"recipe_{g}_remove_{i}", help=f"Remove example {i + 1}"):
            action = ("remove", i)
        shots.append([user, assistant])
    if st.button("Add an example", key=f"recipe_{g}_add", icon=":material/add:"):
        action = ("add",)
    with st.expander("Pick examples from a training dataset"):
        infos = ds.list_datasets(settings)
        if not infos:
            st.caption("No training dataset yet: upload one on **Datasets** or load the sample workspace on "
                       "**System**.")
        else:
            a1, a2, a3 = st.columns([3, 1, 1])
            name = a1.selectbox("Dataset", [i.name for i in infos], key="recipe_dataset")
            n = a2.number_input("Examples", 1, MAX_EXAMPLES, 3, key="recipe_dataset_n")
            seed = a3.number_input("Seed", 0, 2**31 - 1, 0, key="recipe_dataset_seed")
            st.caption("Drawn at random (seeded) from the dataset; each example's user turn and answer.")
            if st.button("Add examples from the dataset", key="recipe_dataset_add", icon=":material/playlist_add:"):
                action = ("pick", name, int(n), int(seed))
    return shots, action


def _apply(settings: Settings, d: dict, action: tuple) -> None:
    if action[0] == "remove":
        del d["shots"][action[1]]
    elif action[0] == "add":
        d["shots"].append(["", ""])
    else:
        _, name, n, seed = action
        have = {tuple(s) for s in d["shots"]}
        new = [s for s in pick_shots(_dataset_pairs(settings, name), n, seed) if (s.user, s.assistant) not in have]
        d["shots"] += [[s.user, s.assistant] for s in new]
        d["note"] = "; ".join(p for p in (d["note"], f"{len(new)} examples from dataset '{name}' (seed {seed})") if p)
        flash(f"Added {len(new)} examples from '{safe.text(name)}'." if new
              else f"No new examples in '{safe.text(name)}' for seed {seed}.",
              "success" if new else "warning")
    d["gen"] += 1  # fresh text boxes, built from the edited list


def editor_section(settings: Settings, source: Recipe) -> Recipe:
    """Name, instructions, format statement and examples of the recipe being edited, and Save; the recipe as typed."""
    d = st.session_state.get(state.RECIPE_DRAFT)
    if d is None or d["source"] != (source.name, source.version):
        d = st.session_state[state.RECIPE_DRAFT] = _draft(source, d["gen"] + 1 if d else 0)
    g = d["gen"]
    name = st.text_input("Name", d["name"], key=f"recipe_{g}_name", max_chars=64,
                         help="Saving under a new name starts a new recipe; under its own name, a new version.")
    instructions = st.text_area("Instructions", d["instructions"], key=f"recipe_{g}_instructions", height=110,
                                help="The system message: who the assistant is and the rules it follows.")
    fmt = st.text_area("Format statement", d["format"], key=f"recipe_{g}_format", height=130,
                       help="Follows the instructions in the system message: the exact shape of a good answer.")
    shots, action = _shots_editor(settings, d)
    d.update(name=name, instructions=instructions, format=fmt, shots=shots)
    if action:
        _apply(settings, d, action)
        st.rerun()
    recipe = Recipe(name=name.strip(), instructions=instructions, format=fmt,
                    shots=tuple(Shot(u, a) for u, a in shots), note=d["note"])
    if st.button("Save as a new version", type="primary", key="recipe_save", icon=":material/save:"):
        try:
            before = versions(settings, recipe.name) if recipe.name in list_recipes(settings) else []
            saved = save_recipe(settings, recipe)
        except RecipeError as e:
            st.error(safe.text(e))
        else:
            if saved.version in before:
                flash(f"Nothing new: this is '{safe.text(saved.name)}' v{saved.version}, unchanged.", "info")
            else:
                flash(f"Saved '{safe.text(saved.name)}' v{saved.version} ({len(saved.shots)} examples).")
            st.session_state[state.RECIPE_NEXT] = saved.name
            st.rerun()
    return recipe


def _labels(recipe: Recipe, messages: list[dict]) -> list[str]:
    labels = ["system: the instructions and the format statement"] if messages[0]["role"] == "system" else []
    for i in range(1, len(recipe.shots) + 1):
        labels += [f"user: example {i}", f"assistant: example {i}"]
    return labels + ["user: the question"]


def _tokens(tok, messages: list[dict]) -> tuple[str, int]:
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text, len(tok(text, add_special_tokens=False)["input_ids"])


def preview_section(settings: Settings, recipe: Recipe) -> None:
    """The chat messages the Prompted setup sends with this recipe, and what it costs per question in tokens."""
    question = st.text_input("Example question", PREVIEW_QUESTION, key="recipe_preview_question").strip() \
        or PREVIEW_QUESTION
    messages = build_messages(PROMPTED, question, recipe=recipe)
    for label, m in zip(_labels(recipe, messages), messages):
        st.caption(label)
        st.code(m["content"] or " ", language=None, wrap_lines=True)
    try:
        tok = base_tokenizer(settings)
    except (ModelError, OSError, ValueError) as e:
        st.warning("The prompt tokens cannot be counted: the base model's tokenizer is unavailable "
                   f"({safe.text(e)}).")
        return
    rendered, with_recipe = _tokens(tok, messages)
    _, bare = _tokens(tok, build_messages(BASE, question))
    c1, c2, c3 = st.columns(3)
    c1.metric("Prompt tokens with the recipe", with_recipe)
    c2.metric("Without (the Base setup)", bare)
    c3.metric("The recipe costs", f"{with_recipe - bare:+d} tokens")
    model = settings.generator_model.split(":")[-1]
    st.caption(f"Counted with the tokenizer of {safe.text(model)}. The recipe's tokens are paid on every "
               "question the Prompted and RAG setups answer (and the fine-tuned ones, when a run says so): more "
               "prompt to read, a slower first token. A fine-tune puts the behaviour into the weights instead and "
               "costs no prompt tokens per question; the evaluation measures which trade is worth it.")
    with st.expander("As the model reads it (chat template applied)"):
        st.code(rendered, language=None, wrap_lines=True)


def delete_section(settings: Settings, source: Recipe) -> None:
    """Delete the chosen recipe with all its versions."""
    if not source.version:
        return
    with st.expander("Delete this recipe"):
        st.caption("Removes every version. Evaluation runs keep their own copy of the recipe they used.")
        if st.button(f"Delete '{safe.text(source.name)}' (all versions)", key="recipe_delete",
                     icon=":material/delete:"):
            try:
                delete_recipe(settings, source.name)
            except RecipeError as e:
                st.error(safe.text(e))
                return
            flash(f"Deleted recipe '{safe.text(source.name)}'.")
            st.session_state[state.RECIPE_NEXT] = NEW_RECIPE
            st.rerun()
