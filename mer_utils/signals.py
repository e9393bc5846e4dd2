"""SIGTERM means what Ctrl-C means, for every executor.

SIGTERM is what SLURM sends at a job's time limit, on ``scancel`` and on preemption, and what
``kill``, container runtimes and a dying parent (:func:`mer_utils.claims.die_with_parent`) send.
Two places handle it:

- the sweep's own process (:func:`terminate_as_interrupt`): SIGTERM raises :class:`Terminated`,
  a ``KeyboardInterrupt``, so everything unwinds as on Ctrl-C (claims released by their ``with``
  blocks, the one resume line printed) and the command exits ``128 + 15 = 143``;
- a worker process or a SLURM task (:func:`exit_on_terminate`): SIGTERM releases every claim
  the process holds at once, logs one line and exits 143, without waiting for the fold in
  flight and without writing a result (so a requeued SLURM task is not mistaken for a failed
  one). SIGINT (Ctrl-C reaches a terminal's whole process group; submitit's local executor
  cancels with it) does the same, exiting 130.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator

from mer_utils.claims import release_all, when_safe

log = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt in the main thread."""

    signum = signal.SIGTERM


def exit_code(exc: BaseException) -> int:
    """The shell's code for the signal behind ``exc``: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main
    thread; the previous handler is restored after. Off the main thread (no handlers can be
    set there) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _SubmititBypass(logging.Filter):
    """Notes a SIGTERM that submitit's own handler swallowed ("Bypassing signal SIGTERM") in a
    SLURM task that was still starting, before :func:`exit_on_terminate` could be installed."""

    seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Bypassing signal SIGTERM"):
            _SubmititBypass.seen = True
        return True


def watch_submitit_bypass() -> None:
    """Call at import of the module whose function submitit runs (submitit imports it while
    loading the job, then installs its handlers): a SIGTERM that arrives between then and
    :func:`exit_on_terminate` is remembered, and honoured there."""
    logger = logging.getLogger("submitit")
    if not any(isinstance(f, _SubmititBypass) for f in logger.filters):
        logger.addFilter(_SubmititBypass())


def exit_on_terminate(what: str) -> None:
    """In a worker process or a SLURM task (``what`` names it in the log): SIGTERM (or SIGINT)
    releases every claim held here, logs one line and exits 128 + the signal at once. Call from
    the process's main thread, after submitit has set its own handlers."""

    def handler(signum: int, frame: object) -> None:  # never while a claim is half made
        when_safe(lambda: release_and_exit(signum))

    def release_and_exit(signum: int) -> None:
        released = release_all()
        names = ", ".join(p.name for p in released) or "none"
        name = signal.Signals(signum).name
        log.warning("%s (pid %d): %s: released %d claim(s) (%s); exiting", what, os.getpid(), name, len(released), names)  # fmt: skip
        _flush_logs()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    if _SubmititBypass.seen:  # terminated while starting: honour it before claiming anything
        handler(signal.SIGTERM, None)


def _flush_logs() -> None:
    for h in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            h.flush()
