"""The results channel of one run: records the supervisor can trust, whatever the candidate does.

The plugin inside the sandbox writes its per-test records to a memory file (`memfd`) that has no
path anywhere: the run inherits its descriptor and nothing else. Each record carries an HMAC
under a per-run key that reaches the plugin through a pipe it reads and closes while it is
imported, before any of the repository's modules are (the key is then in no file, no
environment variable, no module attribute). Records are numbered, so none can be dropped,
repeated or reordered without the supervisor noticing; a `done` record closes the set.

A candidate in the same process can still scribble on the descriptor, but it cannot produce a
record that authenticates: whatever it writes makes the set unauthenticated, which the runner
reports as a crash, never as a pass.

Wire format, one line per record: ``<hex hmac-sha256 of "<seq>:<json>"> <json>\\n``, where the
JSON object holds ``"seq"`` (0, 1, 2, ...). The plugin's side lives in `sandbox.pytest_plugin`
(it must stay standalone); the tests run both ends together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field

#: Environment variable naming "<key fd>,<results fd>" for the plugin; it removes it on import.
CHANNEL_ENV = "REPOMEND_SANDBOX_CHANNEL"
MAX_BYTES = 256 * 1024 * 1024
"""Never read more than this back (the run's file-size limit is far lower)."""


def sign(key: bytes, seq: int, body: bytes) -> str:
    """The MAC of record `seq` with JSON `body`."""
    return hmac.new(key, str(seq).encode() + b":" + body, hashlib.sha256).hexdigest()


@dataclass
class Received:
    """What came back: the authenticated records in order, and why the rest did not count."""

    records: list[dict] = field(default_factory=list)
    problem: str | None = None
    """None when every byte written is an authenticated record; else the first thing wrong."""


class Channel:
    """Both descriptors of one run, created before the run starts; `close()` releases them."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self.results_fd = os.memfd_create("repomend-results", os.MFD_CLOEXEC)
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, self._key.hex().encode())
        finally:
            os.close(write_end)
        self.key_fd: int | None = read_end

    @property
    def pass_fds(self) -> tuple[int, ...]:
        """Descriptors the run inherits (same numbers inside)."""
        return tuple(fd for fd in (self.key_fd, self.results_fd) if fd is not None)

    def environment(self) -> dict[str, str]:
        assert self.key_fd is not None, "the key was already handed over"
        return {CHANNEL_ENV: f"{self.key_fd},{self.results_fd}"}

    def handed_over(self) -> None:
        """The run has its copy of the key pipe: the supervisor's is closed."""
        if self.key_fd is not None:
            os.close(self.key_fd)
            self.key_fd = None

    def receive(self) -> Received:
        """Read every record written so far, checking each; stops at the first bad byte."""
        size = min(os.fstat(self.results_fd).st_size, MAX_BYTES)
        data = os.pread(self.results_fd, size, 0) if size else b""
        return parse(self._key, data)

    def close(self) -> None:
        self.handed_over()
        if self.results_fd >= 0:
            os.close(self.results_fd)
            self.results_fd = -1


def parse(key: bytes, data: bytes) -> Received:
    """The authenticated records of `data` in order; anything else is named as the problem."""
    received = Received()
    lines = data.split(b"\n")
    tail = lines.pop()  # what follows the last newline: empty unless a record was cut short
    for seq, line in enumerate(lines):
        mac, _, body = line.partition(b" ")
        if not hmac.compare_digest(mac, sign(key, seq, body).encode()):
            received.problem = f"record {seq} of the results failed authentication"
            return received
        try:
            record = json.loads(body)
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("seq") != seq:
            received.problem = f"record {seq} of the results is out of sequence"
            return received
        if received.records and received.records[-1].get("kind") == "done":
            received.problem = "records were written after the done record"
            return received
        received.records.append(record)
    if tail:
        received.problem = f"the results end in {len(tail)} bytes that are not a whole record"
    return received
