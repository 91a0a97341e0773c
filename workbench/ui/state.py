"""Session-state keys, named once here instead of as string literals across pages."""

ACTIVE_COLLECTION = "active_collection"  # name of the collection the user works on
SAMPLE_LOADED_MSG = "sample_loaded_msg"  # messages from the last "Load sample workspace"
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
EVAL_UPLOAD = "eval_upload"  # (file name, ParseReport) of the last evaluation-set upload
EVAL_RUN = "eval_run"  # run id shown on the Report page
EVAL_COMPARE = "eval_compare"  # second run id for the comparison on the Report page
EVAL_FLASH = "eval_flash"  # one message shown after a rerun on the evaluation pages
