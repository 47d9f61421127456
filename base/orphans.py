"""Children that die with their parent, however the parent dies.

Why: `credit up` starts the broker and the worker as child processes. A clean stop ends
them, but a parent killed with SIGKILL (or by the OOM killer) runs no code at all, and its
children went on holding the data dir's ports and locks (issue 17). Linux's
`PR_SET_PDEATHSIG` has the kernel send the child a signal when its parent dies.

The signal is tied to the *thread* that started the child: start children from the main
thread (the runtime does), not from a worker thread that may end first.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen` (None where the OS has no such call)."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the call: nobody will signal
            os.kill(os.getpid(), sig)

    return preexec


def stop_child(proc: subprocess.Popen[bytes], timeout: float, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL with `kill`) and wait; a child still there after `timeout` is
    killed, so a stop never hangs on it."""
    if proc.poll() is not None:
        return
    proc.kill() if kill else proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
