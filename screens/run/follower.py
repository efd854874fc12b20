"""Keeps the screen's `Run` in step with its journal, and shows output of steps run elsewhere.

Other writers append to the session's journal: a detached step's supervisor, a
follower co-signing, the driver when this terminal follows. A thread waits on the
journal (SQLite: its data version; PostgreSQL: LISTEN/NOTIFY) and folds new events
in through `Run.sync`, whose subscribers post them to the UI like any other event.
The logs of items running in another process are tailed into the bridge, so a
follower's log pane is live too (same host: the session folder is shared).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from runbook.execute.detached import TAIL_LINES, LogTail
from runbook.files.paths import log_name
from runbook.rules.state import Status
from runbook.session.run import Run
from screens.run.bridge import Bridge

WAIT_SECONDS = 0.1  # longest wait on the journal before the logs are looked at again


class SessionFollower:
    def __init__(self, run: Run, bridge: Bridge, own: Callable[[], set[str]]) -> None:
        self.run = run
        self.bridge = bridge
        self.own = own  # items whose output this terminal already streams
        self._stop = threading.Event()
        self._tails: dict[str, LogTail] = {}
        self._thread = threading.Thread(target=self._loop, name="journal-follower", daemon=True)
        self.error = ""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        run = self.run
        while not self._stop.is_set():
            try:
                if run.journal.wait(run.meta.id, run.state.last_seq, WAIT_SECONDS):
                    run.sync()
                self._tail_logs()
            except Exception as e:  # the journal went away for a moment: say so, go on
                self.error = f"{type(e).__name__}: {e}"
                self._stop.wait(1.0)

    def _tail_logs(self) -> None:
        state = self.run.state
        own = self.own()
        running = {i for i, st in state.items.items()
                   if st.status is Status.RUNNING and i not in own}
        for item_id in running - set(self._tails):
            path = self.run.dir / "logs" / log_name(item_id)
            self._tails[item_id] = LogTail(path, item_id, self.bridge.output, from_end=False,
                                           backlog=TAIL_LINES)
        for item_id, tail in list(self._tails.items()):
            tail.poll()
            if item_id not in running:
                del self._tails[item_id]
