"""Where the tool writes (the journal and session folders under the XDG state dir) and where
it finds the runbooks it ships."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """$RUNBOOK_STATE_DIR, else $XDG_STATE_HOME/runbook, else ~/.local/state/runbook."""
    explicit = os.environ.get("RUNBOOK_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "runbook"


def journal_path() -> Path:
    return state_dir() / "journal.db"


def session_dir(session_id: str) -> Path:
    return state_dir() / "sessions" / session_id


def log_name(item_id: str) -> str:
    """A file name for an item's log: ids may hold [ and ] from foreach."""
    return item_id.replace("[", "__").replace("]", "").replace("/", "_") + ".log"


def bundled_dir() -> Path:
    """The bundled runbooks: the `runbooks/` folder beside the `runbook` package. That is the
    checkout's top-level folder, and in an installed wheel the data folder pyproject.toml puts
    in site-packages next to `runbook/`; so one path serves both, from any working directory."""
    return Path(__file__).resolve().parents[2] / "runbooks"
