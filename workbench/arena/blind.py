"""Blind mode: shuffled, unlabelled columns, audience votes, a tally per setup kept under storage."""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workbench.files import write_json_atomic
from workbench.settings import Settings

_LOCK = threading.Lock()  # sessions of one Streamlit process vote through the same file


def shuffled(setups: list[str] | tuple[str, ...], seed: int | None = None) -> list[str]:
    """The setups in a random order (seeded for tests); never the original order when avoidable."""
    order = list(setups)
    rng = random.Random(seed)
    for _ in range(8):
        rng.shuffle(order)
        if len(order) < 2 or order != list(setups):
            break
    return order


def blind_label(i: int) -> str:
    """"Answer A", "Answer B", ... for the i-th shown column."""
    return f"Answer {chr(ord('A') + i)}"


@dataclass(frozen=True)
class Tally:
    """Votes per setup: wins and how many blind rounds it took part in."""

    wins: dict
    rounds: dict


class VoteBook:
    """Blind-mode votes, persisted as one JSON list under settings.storage/arena/votes.json."""

    def __init__(self, settings: Settings):
        self.path = Path(settings.storage) / "arena" / "votes.json"

    def votes(self) -> list[dict]:
        if not self.path.is_file():
            return []
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []  # a damaged file must not break the page; the next vote rewrites it

    def record(self, winner: str, shown: list[str], question: str = "") -> dict:
        """Store one vote: the winning setup among the setups shown."""
        if winner not in shown:
            raise ValueError(f"{winner!r} was not among the shown setups {shown}.")
        vote = {"winner": winner, "shown": list(shown), "question": question,
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with _LOCK:
            all_votes = self.votes() + [vote]
            write_json_atomic(self.path, all_votes)
        return vote

    def tally(self) -> Tally:
        wins: dict[str, int] = {}
        rounds: dict[str, int] = {}
        for v in self.votes():
            wins[v["winner"]] = wins.get(v["winner"], 0) + 1
            for s in v["shown"]:
                rounds[s] = rounds.get(s, 0) + 1
        return Tally(wins, rounds)

    def clear(self) -> None:
        with _LOCK:
            self.path.unlink(missing_ok=True)
