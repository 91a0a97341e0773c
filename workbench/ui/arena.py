"""Arena widgets: controls, the side-by-side columns (streamed live), citations, stats, blind votes, export."""
from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from workbench import resources
from workbench.answering import DEFAULT_SYSTEM_PROMPT, AnswerStream, prepare_turn, setups
from workbench.answering.answer import STOPPED_NOTE, is_stopped, stopped_answer
from workbench.answering.recipes import Recipe, list_recipes
from workbench.knowledge.sample import SAMPLE_COLLECTION
from workbench.arena import Conversation, Turn
from workbench.arena.blind import VoteBook, blind_label, shuffled
from workbench.arena.citations import anchor, cited_ranks
from workbench.arena.suggestions import suggested_questions
from workbench.arena.conversation import stats_line, to_json, to_markdown
from workbench.arena.figures import cost_figure, votes_figure
from workbench.models.endpoint import EndpointGenerator
from workbench.models.generator import GenerationConfig
from workbench.models.openai_client import api_key_for, is_configured_endpoint, key_transport_problem, origin
from workbench.types import Answer, source_label
from workbench.ui import safe, state
from workbench.ui.recipes import recipe_choice, with_adapter_toggle
from workbench.ui.resources import get_generator, get_kb, get_settings

# Longest accepted question: far beyond any real question, well below what would stall the tokenizer.
MAX_QUESTION_CHARS = 20_000
# How long a rerun (Stop, a new question) waits for the interrupted answer to stop: the model stops between
# tokens, but a long RAG prompt's prefill runs to its end first (seconds on a busy CPU).
STOP_WAIT_S = 30.0


class _InFlight:
    """An ask being answered in one browser session; an interrupted one leaves its stopped conversation here."""

    def __init__(self):
        self.done = threading.Event()
        self.conversation: Conversation | None = None


# Streamlit starts the rerun a click asks for at once, in a new thread, while the interrupted run is still
# stopping; that run cannot write session state any more (each access raises its stop again), so it hands
# its stopped turn over here, keyed by browser session.
_IN_FLIGHT: dict[str, _InFlight] = {}


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _take_over_stopped() -> None:
    """In a rerun that interrupted an ask: wait until it has stopped, then record its turn, marked stopped."""
    sid = _session_id()
    live = _IN_FLIGHT.get(sid)
    if live is None:
        return
    if not live.done.is_set():
        with st.spinner("Stopping the answer being written..."):
            live.done.wait(STOP_WAIT_S)
    if live.done.is_set():
        _IN_FLIGHT.pop(sid, None)
        if live.conversation is not None:
            st.session_state[state.ARENA_CONV] = live.conversation
            st.toast("Stopped: the answers so far are kept.", icon=":material/stop_circle:")


@dataclass(frozen=True)
class ArenaControls:
    """Everything the user chose above the chat."""

    setups: tuple[str, ...]
    collection: object | None  # workbench.knowledge Collection, None when none is chosen
    retrieval: object | None  # RetrievalSettings
    adapter_name: str | None
    adapter_path: str | None
    cfg: GenerationConfig
    system_prompt: str | None
    endpoint: tuple[str, str] | None  # (url, model) serving the setups without an adapter, None for the local model
    blind: bool
    recipe: Recipe | None = None  # the prompt recipe of the setups that use one (latest saved version)
    recipe_with_adapter: bool = False  # fine-tuned and hybrid answer with the recipe too
    endpoint_key: str | None = field(default=None, repr=False)  # entered for `endpoint`; never in snapshot()
    conversation: bool = False  # follow-ups: each column sees its earlier turns; off: every question on its own


def _adapters():
    try:
        from workbench.finetune.adapters import AdapterRegistry

        return AdapterRegistry(get_settings()).list()
    except Exception as e:  # a broken registry must not take the arena down
        st.warning(f"Adapters could not be listed: {safe.text(e)}")
        return []


def _collection_picker(key: str):
    """(collection, n_chunks) for the chosen collection, (None, 0) when there is none."""
    infos = get_kb().list_collections()
    if not infos:
        st.info("No collection yet: RAG and hybrid columns need one. Create one on **Collections** or load the "
                "sample workspace on **System**.")
        return None, 0
    names = [i.name for i in infos]
    name = state.collection_box("Collection (RAG, hybrid)", names, f"{key}_collection",
                                format_func=lambda n: next(f"{i.name} ({i.n_chunks} chunks)" for i in infos
                                                           if i.name == n))
    info = next(i for i in infos if i.name == name)
    if info.n_chunks == 0:
        st.warning(f"'{safe.text(name)}' is empty: RAG and hybrid columns will be told that nothing was found. "
                   "Upload documents on **Collections**.")
    return get_kb().get(name), info.n_chunks


def top_bar() -> bool:
    """Conversation mode and "New conversation", above everything else; returns whether the mode is on."""
    c1, c2, c3 = st.columns([3, 3, 2], vertical_alignment="center")
    on = c1.toggle("Conversation mode", key="arena_conversation",
                   help="On: follow-up questions, each column sees its own earlier questions and answers. "
                        "Off: every question is asked on its own, so an earlier answer cannot leak into the next.")
    c2.caption("Follow-ups: each column sees its earlier turns." if on else
               "Each question is asked on its own (earlier answers are not sent).")
    if c3.button("New conversation", icon=":material/add_comment:", key="arena_new", width="stretch"):
        for k in (state.ARENA_CONV, state.ARENA_BLIND_ORDERS, state.ARENA_REVEALED):
            st.session_state.pop(k, None)
        st.session_state[state.ARENA_FLASH] = "New conversation started."
        st.rerun()
    _warm_up_line()
    return on


def _warm_up_line() -> None:
    """Whether the models are loaded yet: the first answer waits for them otherwise."""
    w = resources.warm_up_status()
    if w.state == "loading":
        st.caption(f"Loading the models in the background ({w.elapsed_s:.0f} s so far): the first answer waits "
                   "for them.")
    elif w.state == "ready":
        st.caption(f"Models loaded and warm (took {w.elapsed_s:.1f} s at start).")
    elif w.state == "failed":
        st.caption(f"Loading the models at start failed: {safe.text(w.error)}. The first answer loads them again.")


def controls(conversation_mode: bool = False) -> ArenaControls:
    """The settings panel; returns what was chosen."""
    settings = get_settings()
    with st.container(border=True):
        c1, c3 = st.columns([4, 1])
        # Without a stored recipe the Prompted column could only report that it needs one.
        default = [k for k in setups.keys() if list_recipes(settings) or k not in setups.needing_recipe()]
        chosen = c1.multiselect("Columns", setups.keys(), default=default, format_func=setups.label,
                                key="arena_setups")
        blind = c3.toggle("Blind mode", key="arena_blind",
                          help="Shuffle and hide the column names; the audience votes, then the names are revealed.")
        c1, c2 = st.columns(2)
        with c1:
            collection, _ = _collection_picker("arena")
        infos = _adapters()
        adapter_name = adapter_path = None
        if infos:
            adapter_name = c2.selectbox("Adapter (fine-tuned, hybrid)", [i.name for i in infos], key="arena_adapter")
            adapter_path = str(next(i.path for i in infos if i.name == adapter_name))
        elif any(s in setups.adapted() for s in chosen):
            c2.info("No adapter yet: train one on **Training jobs** (the fine-tuned and hybrid columns need one).")
        c1, c2 = st.columns(2)
        recipe = recipe_choice(settings, "arena_recipe", c1)
        with_adapter = with_adapter_toggle("arena_recipe_with_adapter", c2)
        if recipe is None and any(s in setups.needing_recipe() for s in chosen):
            c1.info("No prompt recipe chosen: the Prompted column needs one. Write one on **Prompt recipes** or "
                    "load the sample workspace on **System**.")
        retrieval = None
        with st.expander("Retrieval settings (defaults from the retrieval lab)", expanded=False):
            if collection is not None:
                from workbench.ui.retrieval import settings_form

                retrieval = settings_form(collection, "arena", show_filter=False)
            else:
                st.caption("Choose a collection first.")
        with st.expander("Generation", expanded=False):
            g1, g2, g3 = st.columns(3)
            temperature = g1.slider("Temperature", 0.0, 1.5, 0.0, 0.05, key="arena_temp",
                                    help="0 = greedy: repeatable answers.")
            top_p = g2.slider("Top-p", 0.05, 1.0, 1.0, 0.05, key="arena_top_p", disabled=temperature == 0)
            max_new = g3.number_input("Max new tokens", 8, 1024, 96, 8, key="arena_max_new")
            system_prompt = st.text_area("System prompt", DEFAULT_SYSTEM_PROMPT, key="arena_system", height=70,
                                         help="For the columns without the recipe; the recipe brings its own.")
            source = st.radio("Base, Prompted and RAG columns run on", ["Local model", "OpenAI-compatible endpoint"],
                              horizontal=True, key="arena_source")
            endpoint = endpoint_key = None
            if source != "Local model":
                e1, e2 = st.columns(2)
                url = e1.text_input("Endpoint URL", settings.endpoint_url or "http://localhost:11434/v1",
                                    key="arena_ep_url")
                model = e2.text_input("Model", settings.endpoint_model or "", key="arena_ep_model",
                                      placeholder="e.g. llama3.1:8b")
                endpoint_key = _endpoint_key(settings, url.strip())
                endpoint = (url.strip(), model.strip())
    return ArenaControls(setups.ordered(chosen), collection, retrieval, adapter_name, adapter_path,
                         GenerationConfig(max_new_tokens=int(max_new), temperature=float(temperature),
                                          top_p=float(top_p)),
                         system_prompt.strip() or None, endpoint, blind, recipe, with_adapter, endpoint_key,
                         conversation_mode)


def _endpoint_key(settings, url: str) -> str | None:
    """The key the user enters for the endpoint URL (session only; cleared when the URL's host changes)."""
    o = origin(url)
    if st.session_state.get(state.ARENA_EP_KEY_FOR) != o:
        st.session_state.pop("arena_ep_key", None)  # a key entered for one server never goes to another
        st.session_state[state.ARENA_EP_KEY_FOR] = o
    key = st.text_input("API key for this URL (optional)", type="password", key="arena_ep_key",
                        help="Sent to this URL only; kept in this browser session, never saved or exported.").strip()
    if key:
        st.caption("The key entered above is sent to this URL only.")
    elif is_configured_endpoint(settings, url):
        st.caption("This is the configured endpoint: the key from WORKBENCH_ENDPOINT_API_KEY (or OPENAI_API_KEY) "
                   + ("is sent." if settings.endpoint_api_key else "would be sent, but none is set."))
    elif settings.endpoint_api_key:
        st.caption("Not the configured endpoint (WORKBENCH_ENDPOINT_URL): the key from the environment is not "
                   "sent here; enter one above if this server needs a key.")
    else:
        st.caption("No API key is sent.")
    problem = key_transport_problem(url, api_key_for(settings, url, key or None))
    if problem:
        st.warning(safe.text(problem))
    return key or None


def snapshot(c: ArenaControls) -> dict:
    """The settings worth recording with an exported comparison."""
    return {"columns": list(c.setups), "collection": getattr(c.collection, "name", None),
            "retrieval": c.retrieval.to_json() if c.retrieval is not None else None,
            "adapter": c.adapter_name, "generation": asdict(c.cfg), "system_prompt": c.system_prompt,
            "endpoint": f"{c.endpoint[1]} @ {c.endpoint[0]}" if c.endpoint else None,
            "recipe": c.recipe.ref if c.recipe is not None else None, "recipe_with_adapter": c.recipe_with_adapter,
            "conversation_mode": c.conversation}


def conversation() -> Conversation:
    return st.session_state.setdefault(state.ARENA_CONV, Conversation())


def _passage_label(p) -> str:
    return f"{source_label(p.chunk.doc_name, p.chunk.page, p.chunk.page_end)} · {p.metric} {p.score:.4g}"


def cited_markdown(a: Answer, turn: int) -> str:
    """The answer as literal text (safe.text), its citations as [n] links to the passages of turn `turn`."""
    ranks = cited_ranks(a.text, a.passages)
    body = safe.text(a.text)
    link = {r: f"[\\[{r}\\]](#{anchor(turn, r)})" for r in ranks}
    marked = re.sub(r"\\\[(\d{1,2})\\\]", lambda m: link.get(int(m.group(1)), m.group(0)), body)
    if marked == body and ranks:  # the model wrote no markers: point at the passages it copied from
        marked = body + " " + " ".join(link[r] for r in ranks)
    return marked


def show_answer(a: Answer, live: bool = False, blind: bool = False, turn: int | None = None) -> None:
    """One column's answer (unless streamed just now), then notes, stats and the prompt.

    `turn`: the answer's turn, for its citation links (None: plain text). `blind`: only the answer,
    until the vote: citations, prompt sizes and the prompt itself would tell the audience which column
    uses retrieval or the adapter.
    """
    if a.error:
        st.error(safe.text(a.error))
    elif not live and a.text:
        if blind or turn is None or not a.passages:
            st.text(a.text)  # as written: an answer is outside content, and Markdown in it would fetch its images
        else:
            st.markdown(cited_markdown(a, turn))
    elif not live and not is_stopped(a):
        st.caption("(empty answer)")
    if is_stopped(a):
        st.warning(STOPPED_NOTE if a.text else "Stopped before this column started.", icon=":material/stop_circle:")
    if blind:
        st.caption("Speed, citations and the prompt appear after the vote.")
        return
    if a.note and not is_stopped(a):
        st.info(safe.text(a.note), icon=":material/info:")
    if a.stats is not None:
        st.caption(stats_line(a))
    if a.passages and a.error:
        st.caption("The passages below were retrieved, but no answer used them.")
    if a.prompt:
        with st.expander("Prompt sent to the model"):
            st.code(a.prompt, language=None, wrap_lines=True)


def _order(i: int, turn: Turn, blind: bool) -> list[str]:
    shown = list(turn.answers)
    if not blind:
        return shown
    orders = st.session_state.setdefault(state.ARENA_BLIND_ORDERS, {})
    return orders.setdefault(i, shuffled(shown))


def _title(setup: str, pos: int, i: int, blind: bool) -> str:
    revealed = st.session_state.get(state.ARENA_REVEALED, {})
    if blind and i not in revealed:
        return blind_label(pos)
    if blind:
        return f"{blind_label(pos)}: {setups.label(setup)}" + (" (voted best)" if revealed[i] == setup else "")
    return setups.label(setup)


def _unrevealed(i: int, blind: bool) -> bool:
    """Turn `i` is shown blind and not voted on yet: nothing may tell its columns apart but the answers."""
    return blind and i not in st.session_state.get(state.ARENA_REVEALED, {})


def show_turn(i: int, turn: Turn, blind: bool) -> None:
    """A past turn: the question, its answers in columns, then the passages they cite."""
    with st.chat_message("user"):
        st.text(turn.question)
    order = _order(i, turn, blind)
    for col, (pos, setup) in zip(st.columns(len(order)), enumerate(order)):
        with col:
            st.subheader(_title(setup, pos, i, blind), divider="gray")
            show_answer(turn.answers[setup], blind=_unrevealed(i, blind), turn=i)
    if blind:
        vote_panel(i, turn, order)
    if not _unrevealed(i, blind):
        show_passages(i, turn)


def show_passages(i: int, turn: Turn) -> None:
    """The passages retrieved for turn `i` (every retrieving column saw the same), each an anchor for [n] links."""
    passages = next((a.passages for a in turn.answers.values() if a.passages), ())
    if not passages:
        return
    users = ", ".join(setups.label(s) for s, a in turn.answers.items() if a.passages)
    st.markdown(f"**Retrieved passages** ({safe.text(users)}): the **[n]** in an answer links here.")
    with st.container(height=min(420, 120 + 110 * len(passages)), border=True):
        for p in passages:
            # The id is ours (turn and rank); the passage's own text never goes into HTML or Markdown.
            st.markdown(f'<span id="{anchor(i, p.rank)}" style="scroll-margin-top: 4rem"></span>**\\[{p.rank}\\]** ' + safe.text(_passage_label(p)),
                        unsafe_allow_html=True)
            st.text(p.chunk.text)


def vote_panel(i: int, turn: Turn, order: list[str]) -> None:
    revealed = st.session_state.setdefault(state.ARENA_REVEALED, {})
    if i in revealed:
        return
    st.markdown("**Which answer is best?**")
    for col, (pos, setup) in zip(st.columns(len(order)), enumerate(order)):
        if col.button(f"Vote {blind_label(pos)}", key=f"arena_vote_{i}_{pos}", use_container_width=True):
            VoteBook(get_settings()).record(setup, order, turn.question)
            revealed[i] = setup
            st.session_state[state.ARENA_FLASH] = f"Vote recorded: {blind_label(pos)} was **{setups.label(setup)}**."
            st.rerun()


def _endpoint(c: ArenaControls):
    """The endpoint generator chosen for the setups without an adapter, None for the local model."""
    if c.endpoint is None:
        return None
    return lambda: EndpointGenerator.from_settings(get_settings(), url=c.endpoint[0], model=c.endpoint[1],
                                                   user_key=c.endpoint_key)


def _show_live(item: AnswerStream | Answer, blind: bool, live: dict) -> Answer:
    """Stream one column's answer (or show why it could not start); returns the finished Answer.

    While it streams, `live["stream"]` holds (stream, its iterator), so a stop can close it and keep its text.
    """
    if isinstance(item, Answer):
        show_answer(item, blind=blind)
        return item
    pieces = iter(item)
    live["stream"] = (item, pieces)
    with st.spinner("Generating..."):
        box, shown = st.empty(), ""
        for piece in pieces:  # plain text as it streams, like the finished answer; each call is a stop point
            shown += piece
            box.text(shown)
    live.pop("stream")
    show_answer(item.answer, live=True, blind=blind)
    return item.answer


def _stopped(order: list[str], answers: dict[str, Answer], live: dict, passages) -> dict[str, Answer]:
    """Every column's answer after a stop: the finished ones, the one being written (cut), the rest not started."""
    out = dict(answers)
    if "stream" in live:
        item, pieces = live.pop("stream")
        pieces.close()  # GeneratorExit in the stream: it records its text so far and frees the model
        out[item.setup] = item.answer or stopped_answer(item.setup, item.text, item.passages)
    for setup in order:
        if setup not in out:
            out[setup] = stopped_answer(setup, passages=passages if setups.setup(setup).retrieves else ())
    return {s: out[s] for s in order}


def ask(question: str, c: ArenaControls) -> None:
    """Put `question` to every chosen setup, streaming each answer into its column, and record the turn.

    A click anywhere while it runs (Stop, a new question, any widget) makes Streamlit rerun the page, which
    interrupts this run at its next call: the answers so far are kept, marked stopped.
    """
    conv = conversation()
    i = len(conv.turns)
    order = shuffled(list(c.setups)) if c.blind else list(c.setups)
    history = conv.history if c.conversation else (lambda key: ())
    with st.chat_message("user"):
        st.text(question)
    st.button("Stop", key="arena_stop", icon=":material/stop_circle:", type="primary",
              help="Stops every column: the answer being written keeps its text so far; the others do not start.")
    with st.spinner("Retrieving passages..."):
        turn = prepare_turn(question, order, local=get_generator, endpoint=_endpoint(c), collection=c.collection,
                            retrieval=c.retrieval, adapter_path=c.adapter_path, cfg=c.cfg,
                            system_prompt=c.system_prompt, history_for=history, recipe=c.recipe,
                            recipe_with_adapter=c.recipe_with_adapter)
    if c.blind:
        st.session_state.setdefault(state.ARENA_BLIND_ORDERS, {})[i] = order
    slots = {}
    # Every column's header first, so the audience sees them all waiting while the first one streams.
    for col, (pos, setup) in zip(st.columns(len(order)), enumerate(order)):
        with col:
            st.subheader(blind_label(pos) if c.blind else setups.label(setup), divider="gray")
            slots[setup] = st.empty()
            slots[setup].caption("Waiting for its turn...")
    answers: dict[str, Answer] = {}
    live: dict = {}
    sid, in_flight = _session_id(), _InFlight()
    _IN_FLIGHT[sid] = in_flight
    try:
        for setup in order:
            with slots[setup].container():
                answers[setup] = _show_live(turn.start(setup), c.blind, live)
    finally:
        if len(answers) < len(order):  # interrupted: no st.* call or session state here (each would raise)
            kept = _stopped(order, answers, live, turn.passages)
            in_flight.conversation = Conversation(conv.turns, snapshot(c)).add(Turn(question, kept))
        else:
            _IN_FLIGHT.pop(sid, None)
        in_flight.done.set()
    st.session_state[state.ARENA_CONV] = Conversation(conv.turns, snapshot(c)).add(Turn(question, answers))
    st.rerun()  # redraw from the record, so votes, charts and export include this turn


def controls_section() -> ArenaControls | None:
    """Conversation mode and New conversation, then the settings panel; what was chosen, or None when no column is."""
    c = controls(top_bar())
    if not c.setups:
        st.warning("Choose at least one column.")
        return None
    return c


def conversation_section(c: ArenaControls) -> None:
    """The turns so far, suggested questions, the question box, and a new question's answers as they stream."""
    for i, turn in enumerate(conversation().turns):
        show_turn(i, turn, c.blind)
    question = st.chat_input("Ask a follow-up..." if c.conversation else "Ask all columns a question...",
                             key="arena_question")
    question = _suggestions(c) or question
    problem = validate_question(question)
    if problem:
        st.error(problem)
    elif question:
        ask(question, c)


def validate_question(q: str | None) -> str | None:
    """An error message for a question that cannot be asked, None when it is fine."""
    if q is None:
        return None
    if not q.strip():
        return "The question is empty."
    if len(q) > MAX_QUESTION_CHARS:
        return (f"The question is {len(q):,} characters long; the arena accepts up to {MAX_QUESTION_CHARS:,}. "
                "Shorten it or put long material in a collection.")
    return None


def _suggestions(c: ArenaControls) -> str | None:
    """Buttons for the sample's demo questions when the sample collection is chosen; the one clicked, if any."""
    qs = suggested_questions()
    if getattr(c.collection, "name", None) != SAMPLE_COLLECTION or not qs:
        return None
    st.caption("Demo questions, measured on the bundled model: RAG gets the fact and the base model does not; "
               "the fine-tuned model answers in the JSON house format.")
    picked = None
    with st.container(horizontal=True):  # each button as wide as its question, wrapping to a new line as needed
        for n, q in enumerate(qs):
            if st.button(q.question, key=f"arena_suggest_{n}", icon=":material/chat:"):
                picked = q.question
    return picked


def footer(blind: bool) -> None:
    """Cost chart of the latest turn, blind-vote tally, export and clear."""
    conv = conversation()
    if conv.turns:
        last = conv.turns[-1]
        i = len(conv.turns) - 1
        if not _unrevealed(i, blind) and any(a.stats for a in last.answers.values()):
            st.plotly_chart(cost_figure(last.answers), use_container_width=True)
        n1, n2 = st.columns(2)
        n1.page_link("pages/evaluate_run.py", label="Next: measure these setups on a whole question set",
                     icon=":material/play_circle:")
        n2.page_link("pages/retrieval_query.py", label="Or see why these passages came back (Query lab)",
                     icon=":material/search:")
        e1, e2, e3 = st.columns(3)
        e1.download_button("Export Markdown", to_markdown(conv), "arena.md", "text/markdown",
                           icon=":material/download:", use_container_width=True)
        e2.download_button("Export JSON", to_json(conv, votes=VoteBook(get_settings()).votes() or None),
                           "arena.json", "application/json", icon=":material/download:", use_container_width=True)
        e3.caption("Start over with **New conversation** at the top.")
    book = VoteBook(get_settings())
    tally = book.tally()
    if blind or tally.rounds:
        with st.expander("Blind-mode votes", expanded=blind):
            if tally.rounds:
                st.plotly_chart(votes_figure(tally.wins, tally.rounds), use_container_width=True)
                if st.button("Reset votes", key="arena_reset_votes"):
                    book.clear()
                    st.rerun()
            else:
                st.caption("No votes yet: ask a question in blind mode and vote for the best answer.")


def flash() -> None:
    """The message of the last action (and the turn an interrupted answer left, once it has stopped)."""
    _take_over_stopped()
    msg = st.session_state.pop(state.ARENA_FLASH, None)
    if msg:
        st.toast(msg, icon=":material/check_circle:")
