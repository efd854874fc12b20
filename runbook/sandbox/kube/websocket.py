"""A minimal RFC 6455 server side: handshake, binary frames, close (for pods/exec)."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_BINARY, OP_CLOSE = 0x2, 0x8  # the opcodes the channel protocol uses (RFC 6455)

# Channel protocols in our order of preference (kubectl offers v5 first, then v4...).
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
             "v2.channel.k8s.io", "channel.k8s.io")


def accept_key(client_key: str) -> str:
    digest = hashlib.sha1((client_key.strip() + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def choose_protocol(offered: str) -> str | None:
    names = [p.strip() for p in offered.split(",") if p.strip()]
    for preferred in PROTOCOLS:
        if preferred in names:
            return preferred
    return None


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (servers never mask)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


def close_frame(code: int = 1000, reason: str = "") -> bytes:
    return frame(OP_CLOSE, struct.pack(">H", code) + reason.encode())


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError("websocket closed")
        data += chunk
    return data


def read_frame(stream: BinaryIO) -> tuple[int, bytes]:
    """The opcode and (unmasked) payload of the next frame from the client."""
    b1, b2 = _read_exact(stream, 2)
    opcode = b1 & 0x0F
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack(">H", _read_exact(stream, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", _read_exact(stream, 8))[0]
    mask = _read_exact(stream, 4) if b2 & 0x80 else b""
    payload = _read_exact(stream, n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload


class Channels:
    """Writes the k8s channel framing (first payload byte = stream number) on a socket."""

    def __init__(self, sock: socket.socket, protocol: str) -> None:
        self.sock = sock
        self.protocol = protocol

    def send(self, channel: int, data: bytes) -> None:
        if self.protocol.startswith("base64"):
            data = base64.b64encode(data)
        self.sock.sendall(frame(OP_BINARY, bytes([channel]) + data))

    def close(self, code: int = 1000) -> None:
        try:
            self.sock.sendall(close_frame(code))
        except OSError:
            pass
