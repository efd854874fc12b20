"""The rehearsal's terminal when a stop signal comes: gone (hung up) or not.

A closed terminal fails every write with EIO. Textual writes from a thread of its own,
which dies on the first such error and leaves the app blocked on a full queue while it
exits; and its driver answers SIGCONT (which comes with a hang-up) by starting the app's
terminal mode again, in the middle of its shutdown. So on a stop signal the dead
terminal's descriptors are pointed at /dev/null (writes succeed, reads see end of file),
and the driver's job-control handlers do nothing once the rehearsal is stopping or the
terminal is gone.
"""

from __future__ import annotations

import os
import signal
import termios
from collections.abc import Callable
from types import FrameType
from typing import Any

JOB_SIGNALS = (signal.SIGCONT, signal.SIGTSTP)


def _hung_up(fd: int) -> bool:
    """A descriptor on a terminal that has been hung up (not one redirected to a file)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    if not target.startswith(("/dev/pts/", "/dev/tty")):
        return False
    try:
        termios.tcgetattr(fd)
    except termios.error as e:
        return bool(e.args and e.args[0] == 5)  # EIO: the other end is gone
    return False


def terminal_gone() -> bool:
    return any(_hung_up(fd) for fd in (0, 1, 2))


def leave_dead_terminal() -> bool:
    """Point the standard descriptors that are on a hung-up terminal at /dev/null."""
    dead = [fd for fd in (0, 1, 2) if _hung_up(fd)]
    if not dead:
        return False
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in dead:
            os.dup2(null, fd)
    finally:
        os.close(null)
    return True


def guard_job_control(stopping: Callable[[], bool]) -> None:
    """Wrap the Python handlers of SIGCONT and SIGTSTP (a Textual driver's) so that they do
    nothing once `stopping()` or the terminal is gone."""
    for sig in JOB_SIGNALS:
        inner = signal.getsignal(sig)
        if not callable(inner) or getattr(inner, "_rehearsal_guard", False):
            continue

        def guarded(signum: int, frame: FrameType | None, inner: Any = inner) -> None:
            if not stopping() and not terminal_gone():
                inner(signum, frame)

        guarded._rehearsal_guard = True  # type: ignore[attr-defined]
        signal.signal(sig, guarded)
