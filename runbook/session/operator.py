"""Who is at the keyboard: $USER@host, and the SSH connection if any."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operator:
    user: str
    host: str
    ssh: str

    @property
    def name(self) -> str:
        return f"{self.user}@{self.host}"


def current() -> Operator:
    try:
        user = os.environ.get("RUNBOOK_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    ssh = os.environ.get("SSH_CONNECTION", "")
    parts = ssh.split()
    shown = f"from {parts[0]}:{parts[1]}" if len(parts) >= 2 else ""
    return Operator(user, socket.gethostname(), shown)
