"""The arena: one question, several setups, answers side by side; multi-turn history, blind votes, exports.

Answering itself (setups, prompts, retrieving once per turn, streaming each setup's answer) lives in
`workbench.answering`; this package keeps what only the arena has: the conversation (`Conversation`,
`Turn`, Markdown/JSON export), blind mode (`blind`) and the per-turn figures (`figures`).
"""
from workbench.arena.conversation import Conversation, Turn

__all__ = ["Conversation", "Turn"]
