"""Two `Journal` objects on one file in one process must not hide events from other processes.

The bug this guards against: opening the journal file with a raw open()/close() pair dropped
the POSIX locks SQLite held through another connection of the same process; another process
then took itself for the last connection, checkpointed and deleted the WAL, and every later
commit of the first process went into a deleted file that nobody else could read.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from runbook.journal.sqlite import Journal
from runbook.journal.store import SessionMeta
from runbook.rules.events import Ev

READER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
db.close()
"""


def _meta(sid: str, root: Path) -> SessionMeta:
    return SessionMeta(sid, 0.0, "rb.yaml", "t", "h", "sandbox", False, "op", "host", "", "",
                       {}, str(root / sid))


def _count_elsewhere(path: Path) -> int:
    out = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True,
                         text=True, check=True, timeout=60)
    return int(out.stdout)


def test_two_journals_in_one_process_keep_every_event_visible(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first = Journal(path)
    first.create_session(_meta("s1", tmp_path))
    first.append("s1", Ev.SESSION_STARTED)
    second = Journal(path)
    second.append("s1", Ev.SESSION_RESUMED)
    assert _count_elsewhere(path) == 2  # another process reads, then closes its connection
    for _ in range(3):
        second.append("s1", Ev.FOLLOWER_JOINED, data={"who": "after the other process closed"})
    assert len(first.events("s1")) == 5
    assert _count_elsewhere(path) == 5
    second.close()
    first.append("s1", Ev.FOLLOWER_LEFT)
    assert _count_elsewhere(path) == 6
    first.close()
    assert _count_elsewhere(path) == 6
    assert not any(Path(f"{path}{suffix}").exists() and not os.access(f"{path}{suffix}", os.R_OK)
                   for suffix in ("-wal", "-shm"))


def test_wait_wakes_for_a_commit_of_another_journal_in_the_same_process(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    writer, follower = Journal(path), Journal(path)
    writer.create_session(_meta("s1", tmp_path))
    writer.append("s1", Ev.SESSION_STARTED)
    timer = threading.Timer(0.2, lambda: writer.append("s1", Ev.FOLLOWER_JOINED))
    timer.start()
    try:
        assert follower.wait("s1", after=1, timeout=20)
    finally:
        timer.join()
    assert [e.seq for e in follower.events("s1")] == [1, 2]
    writer.close()
    follower.close()


def test_the_file_is_created_through_sqlite_with_the_umask_applied(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = tmp_path / "new" / "journal.db"
        journal = Journal(path)
        journal.create_session(_meta("s1", tmp_path))
        journal.append("s1", Ev.SESSION_STARTED)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    wal = Path(f"{path}-wal")
    if wal.exists():
        assert stat.S_IMODE(wal.stat().st_mode) == 0o640
    journal.close()
