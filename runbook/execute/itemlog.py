"""Per-item output: the full log file in the session folder, plus an optional listener."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from runbook.files.paths import log_name
from runbook.rules.redact import Redactor

Listener = Callable[[str, list[str]], None]  # (item id, batch of lines)


class ItemLog:
    """Writes redacted lines to `logs/<item>.log` and forwards each batch once."""

    def __init__(self, session_dir: Path, item_id: str, redact: Redactor,
                 listener: Listener | None = None) -> None:
        self.path = session_dir / "logs" / log_name(item_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.item_id = item_id
        self._redact = redact
        self._listener = listener
        self._file = open(self.path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        self._lock = threading.Lock()
        self.lines = 0
        self._tail: deque[str] = deque(maxlen=20)

    def write_lines(self, lines: Iterable[str]) -> None:
        raw = list(lines)
        if not raw:
            return
        # one redaction pass over the whole batch (it also catches a multi-line secret)
        batch = self._redact("\n".join(raw)).split("\n")
        with self._lock:
            self._file.write("\n".join(batch))
            self._file.write("\n")
            self._file.flush()  # a batch at a time: whoever tails the file sees it now
            self.lines += len(batch)
            self._tail.extend(batch)
        if self._listener is not None:
            self._listener(self.item_id, batch)

    @property
    def tail(self) -> list[str]:
        """The last lines written (for the journal's result event)."""
        return list(self._tail)

    def close(self) -> None:
        with self._lock:
            self._file.flush()
            self._file.close()


def tail_file(path: Path, n: int, block: int = 1 << 16) -> tuple[list[str], int]:
    """The last `n` lines of a log file and how many lines it holds (0, [] if missing)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            data = b""
            pos = size
            while pos > 0 and data.count(b"\n") <= n:
                step = min(block, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
            total = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            f.seek(0)
            while pos > 0:  # count the lines before what was read, a block at a time
                step = min(1 << 20, pos)
                total += f.read(step).count(b"\n")
                pos -= step
    except OSError:
        return [], 0
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-n:], total
