"""Session-state keys, named once here instead of as string literals across pages."""

ACTIVE_COLLECTION = "active_collection"  # name of the collection the user works on
SAMPLE_LOADED_MSG = "sample_loaded_msg"  # messages from the last "Load sample workspace"
