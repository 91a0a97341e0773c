"""What a user last chose, kept across app restarts: the collection in use (storage/preferences.json)."""
from __future__ import annotations

import json

from workbench.files import write_json_atomic
from workbench.settings import Settings

FILE = "preferences.json"


def load(settings: Settings) -> dict:
    """The stored preferences; {} when there are none or the file is damaged (they are a convenience)."""
    try:
        data = json.loads((settings.storage / FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(settings: Settings, **values) -> None:
    """Store `values` over the previous ones (written only when something changed)."""
    current = load(settings)
    if all(current.get(k) == v for k, v in values.items()):
        return
    try:
        write_json_atomic(settings.storage / FILE, {**current, **values})
    except OSError:  # a read-only storage keeps the choice for this session only
        pass
