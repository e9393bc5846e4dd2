"""Worker processes' log lines, in the parent's log.

Spawned workers start with no logging configuration, so their INFO lines (and the format of
their warnings) were lost. Here each worker sends its records over its own connection to a Unix
socket the parent serves (:func:`serve`); the parent hands each record to its logger of the same
name, prefixed with the worker's name, so it lands wherever the parent's logging goes (terminal,
notebook, pytest's capture). One connection per worker, no shared lock: a worker killed in the
middle of a record (``kill -9``) breaks only its own connection, never the others' or the
parent's (a ``multiprocessing.Queue`` would stay locked by the dead writer).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import pickle
import shutil
import socketserver
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


class _Receiver(socketserver.StreamRequestHandler):
    """One worker's connection: length-prefixed pickled record dicts (SocketHandler's format)."""

    def handle(self) -> None:
        while True:
            head = self.rfile.read(4)
            if len(head) < 4:
                return
            body = self.rfile.read(struct.unpack(">L", head)[0])
            try:
                record = logging.makeLogRecord(pickle.loads(body))
            except Exception:  # a record cut short by a killed worker: its connection ends
                return
            _relay(record)


def _relay(record: logging.LogRecord) -> None:
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        record.msg, record.args = f"[{record.processName}] {record.getMessage()}", None
        logger.handle(record)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Within the block, a Unix socket (in a private temporary folder) receives workers' log
    records; yields its path, to pass to :func:`send_to`."""
    folder = Path(tempfile.mkdtemp(prefix="mer-logs-"))  # 0700: only this user can connect
    server = _Server(str(folder / "socket"), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield str(folder / "socket")
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(folder, ignore_errors=True)


def send_to(address: str, level: int) -> None:
    """In a worker: send every log record of ``level`` and above to the parent at ``address``."""
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.SocketHandler(address, None)]
    root.setLevel(level)
