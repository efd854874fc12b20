"""The marker a rehearsal world keeps while it runs, and the clean-up of orphaned worlds.

A signal stops the world from inside the rehearsal (runbook.sandbox.lifetime); a
`kill -9` cannot be caught. So while the world runs, a file under the state dir,
`sandbox/<pid>.json`, names its owner (pid and start time), its tag, its folders and its
server processes (pid and start time each), rewritten as the world starts and removed
once it is stopped. The next `runbook rehearse` reads the markers whose owner is gone,
stops what of those worlds still runs (only what runbook.sandbox.procs proves to be
theirs), removes their folders and the marker, and says what it did.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runbook.files import paths
from runbook.sandbox import procs
from runbook.sandbox.procs import Proc

SUPERVISOR_GRACE = 20.0  # seconds a cancelled step supervisor gets to journal its result


def marker_dir() -> Path:
    return paths.state_dir() / "sandbox"


@dataclass
class Marker:
    path: Path
    owner: Proc
    tag: str
    folders: list[Path] = field(default_factory=list)
    processes: list[Proc] = field(default_factory=list)

    def write(self) -> None:
        """Atomically (a reader never sees half a marker); private to the user (mode 600)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"owner": _proc_json(self.owner), "tag": self.tag,
                "folders": [str(f) for f in self.folders],
                "processes": [_proc_json(p) for p in self.processes]}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _proc_json(p: Proc) -> dict[str, object]:
    return {"name": p.name, "pid": p.pid, "started": p.started}


def _proc(raw: object) -> Proc:
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    return Proc(str(raw["name"]), int(raw["pid"]), str(raw["started"]))


def read(path: Path) -> Marker:
    """The marker at `path`; ValueError (or OSError) if it is not one."""
    try:
        data = json.loads(path.read_text())
        return Marker(path, _proc(data["owner"]), str(data["tag"]),
                      [Path(str(f)) for f in data["folders"]],
                      [_proc(p) for p in data["processes"]])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a rehearsal marker ({e})") from None


def new_marker(tag: str) -> Marker:
    me = procs.proc("runbook rehearse", os.getpid())
    assert me is not None  # this process is alive
    return Marker(marker_dir() / f"{me.pid}.json", me, tag)


# -- stopping a world --------------------------------------------------------------------
def stop_tagged(tag: str, reason: str) -> list[Proc]:
    """End the processes started from the rehearsal: detached step supervisors first (told
    why, they cancel their step and journal it), then any step command still running."""
    found = procs.tagged(tag)
    supervisors = [p for p in found if p.name == "step supervisor"]
    for p in supervisors:
        _tell_supervisor(p, reason)
    stopped = procs.stop(supervisors, SUPERVISOR_GRACE)
    return stopped + procs.stop([p for p in procs.tagged(tag) if p not in stopped], 5.0)


def _tell_supervisor(p: Proc, reason: str) -> None:
    """Write the cancel reason beside the supervisor's pid file (it reads it on SIGTERM)."""
    from runbook.execute.detached import reason_file
    for pidfile in (paths.state_dir() / "sessions").glob("*/running/*.json"):
        try:
            data = json.loads(pidfile.read_text())
            if int(data["pid"]) == p.pid and str(data["started"]) == p.started:
                reason_file(pidfile.parent.parent, str(data["item"])).write_text(reason)
                return
        except (OSError, ValueError, KeyError, TypeError):
            continue


def stop_servers(folders: Iterable[Path], recorded: Iterable[Proc]) -> list[Proc]:
    """End the world's servers: the recorded ones still alive and any postgres or redis
    running in its folders; returns those that were running (backends left out)."""
    running = [p for p in recorded if p.alive()]
    pids = {p.pid for p in running}
    targets = running + [p for p in procs.servers_in(folders) if p.pid not in pids]
    stopped = procs.stop(targets, 30.0)
    return [p for p in stopped if p.name != procs.BACKEND]


def remove_folders(folders: Iterable[Path]) -> list[Path]:
    removed = []
    for f in folders:
        if f.exists():
            shutil.rmtree(f, ignore_errors=True)
            removed.append(f)
    return removed


# -- orphans -----------------------------------------------------------------------------
def reap_orphans() -> list[str]:
    """Clean up after every rehearsal world whose owner is dead; one line for each."""
    lines = []
    for path in sorted(marker_dir().glob("*.json")):
        try:
            m = read(path)
        except (OSError, ValueError) as e:
            lines.append(f"note: ignored {path}: {e}")
            continue
        if m.owner.alive():
            continue  # a rehearsal running now, in another terminal
        stopped = stop_tagged(m.tag, "the rehearsal that started it was killed (kill -9); "
                                     "its world is gone")
        stopped += stop_servers(m.folders, m.processes)
        removed = remove_folders(m.folders)
        m.remove()
        lines.append(f"stopped an orphaned rehearsal world of pid {m.owner.pid}: "
                     + describe(stopped, removed))
    return lines


def describe(stopped: list[Proc], removed: list[Path]) -> str:
    parts = [", ".join(p.label() for p in stopped) or "no process was still running"]
    if removed:
        parts.append("removed " + ", ".join(str(f) for f in removed))
    return "; ".join(parts)
