"""Session-state keys, named once here instead of as string literals across pages."""
from workbench import preferences

ACTIVE_COLLECTION = "active_collection"  # name of the collection the user works on
FT_UPLOAD_RESULT = "ft_upload_result"  # (file name, ParseResult) of the last dataset upload
FT_PREVIEW_DATASET = "ft_preview_dataset"  # dataset shown in the preview on the Datasets page
FT_SELECTED_JOB = "ft_selected_job"  # job shown in the live view on the Training jobs page
FT_WATCHING = "ft_watching"  # job ids the live view saw running (to refresh the page when they end)
FT_FLASH = "ft_flash"  # one message to show after a rerun (launched, cancelled, renamed, ...)
KNOWLEDGE_FLASH = "knowledge_flash"  # (kind, message) shown once after a rerun on the knowledge pages
KNOWLEDGE_UPLOAD_REPORT = "knowledge_upload_report"  # (collection, IngestReport) of the last upload
KNOWLEDGE_UPLOADER_GEN = "knowledge_uploader_gen"  # bumped to clear the file uploader after an upload
KNOWLEDGE_PREVIEW_DOC = "knowledge_preview_doc"  # doc_id shown on the chunking preview page
KNOWLEDGE_PREVIEW_UPLOAD = "knowledge_preview_upload"  # (name, bytes) of a file uploaded just to preview
RETR_COLLECTION = "retr_collection"  # collection picked on the retrieval pages (mirrors ACTIVE_COLLECTION)
RETR_QUERY = "retr_query"  # the query text in the Query lab
RETR_RESULTS = "retr_results"  # (query, RetrievalSettings, results, best score without threshold) of the last search
RETR_QSET = "retr_qset"  # the QuestionSet chosen for evaluation and the sweep
RETR_FLASH = "retr_flash"  # one message to show after a rerun (saved defaults, applied config)
EVAL_SET = "eval_set"  # evaluation set chosen on the Run evaluation page
EVAL_UPLOAD = "eval_upload"  # (file name, QuestionSet) of the last evaluation-set upload
EVAL_RUN = "eval_run"  # run id shown on the Report page
EVAL_COMPARE = "eval_compare"  # second run id for the comparison on the Report page
EVAL_REFRESHED = "eval_refreshed"  # run ids whose end already redrew the Run evaluation page
EVAL_FLASH = "eval_flash"  # one message shown after a rerun on the evaluation pages
KNOWLEDGE_SEMANTIC_OK = "knowledge_semantic_ok"  # doc_id whose sentences the user agreed to embed for a preview
ARENA_CONV = "arena_conv"  # the Conversation shown in the arena (settings snapshot + turns)
ARENA_BLIND_ORDERS = "arena_blind_orders"  # turn index -> shuffled setup order shown in blind mode
ARENA_REVEALED = "arena_revealed"  # turn index -> winning setup, for blind turns already voted on
ARENA_FLASH = "arena_flash"  # one message shown after a rerun (vote recorded, cleared)
ARENA_EP_KEY_FOR = "arena_ep_key_for"  # (scheme, host, port) the endpoint key field was filled in for
EVAL_UPLOADER_GEN = "eval_uploader_gen"  # bumped to clear the evaluation-set uploader after a save
ACTIVE_COLLECTION_VERSION = "active_collection_version"  # bumped when code (not a collection box) picks one
RECIPE_PICK = "recipe_pick"  # recipe chosen on the Prompt recipes page (NEW_RECIPE for a new one)
RECIPE_NEXT = "recipe_next"  # recipe name to choose on the next run (after a save or delete)
RECIPE_DRAFT = "recipe_draft"  # the recipe being edited: its fields, where it came from, a widget generation
RECIPE_FLASH = "recipe_flash"  # one message shown after a rerun on the Prompt recipes page
JOBS_STARTED = "jobs_started"  # purpose -> id of a background job this session started (ui.retrieval.finished_here)
EMBED_SPEED = "embed_speed"  # collection key -> texts/s its embedder measured (the sweep's estimate)
JOBS_CANCEL_ASKED = "jobs_cancel_asked"  # ids of jobs whose Cancel this session pressed


def flash(key: str, message: str, kind: str = "success", then: tuple[str, str] | None = None) -> None:
    """Queue a message (st.success, st.error, ...) under `key` for the next run (it survives st.rerun);
    `then` = (page, label) adds a link to the natural next step under it."""
    import streamlit as st

    st.session_state[key] = (kind, message, then)


def show_flash(key: str) -> None:
    """Show, once, the message queued under `key`, and its next-step link."""
    import streamlit as st

    from workbench.ui.links import next_step

    if queued := st.session_state.pop(key, None):
        kind, message, then = (*queued, None)[:3]
        getattr(st, kind)(message)
        if then:
            next_step(*then, ":material/arrow_forward:")


def choose_collection(name: str | None) -> None:
    """Make `name` the active collection from code (created, renamed, deleted, built): every collection
    box shows it on the next run, even one whose value the browser still holds."""
    import streamlit as st

    if name is None:
        st.session_state.pop(ACTIVE_COLLECTION, None)
    else:
        st.session_state[ACTIVE_COLLECTION] = name
    st.session_state[ACTIVE_COLLECTION_VERSION] = st.session_state.get(ACTIVE_COLLECTION_VERSION, 0) + 1


def collection_box(label: str, names: list[str], key: str, **kwargs) -> str:
    """A selectbox of collection `names` that shows the active collection and makes its choice the active
    one (shared by every page). A keyed selectbox keeps the browser's value across reruns and ignores
    `index`, so after choose_collection its value is replaced here, before the widget exists in this run:
    the one moment Streamlit allows it (and `index` stays 0 then, so Streamlit sees no second default).
    """
    import streamlit as st

    if ACTIVE_COLLECTION not in st.session_state:  # a new session (or an app restart): the last choice
        last = preferences.load(_settings()).get("collection")
        if last in names:
            choose_collection(last)
    current = st.session_state.get(ACTIVE_COLLECTION)
    index = names.index(current) if current in names else 0
    version = st.session_state.get(ACTIVE_COLLECTION_VERSION, 0)
    seen = f"{key}__active_version"
    if st.session_state.get(seen) != version:
        st.session_state[seen] = version
        if current in names:
            st.session_state[key] = current
            index = 0
        elif st.session_state.get(key) not in names:
            st.session_state.pop(key, None)
    name = st.selectbox(label, names, index=index, key=key, **kwargs)
    st.session_state[ACTIVE_COLLECTION] = name
    preferences.remember(_settings(), collection=name)
    return name


def _settings():
    from workbench.ui.resources import get_settings

    return get_settings()
