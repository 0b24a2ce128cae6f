"""A fork server for the crash suite: it imports the `kpi-sync` CLI once, then forks one CLI process per request.

The tests kill those processes with SIGKILL many times; a fresh interpreter for each run would spend most of the
suite's time importing. The forked child runs the very same entry point as `kpi-sync`, in its own process with its
own database connections. One line each way on stdin/stdout:

    run <JSON list of CLI arguments>                ->  <pid>
    run-dying <n> <JSON list of CLI arguments>      ->  <pid>
    poll <pid>                                      ->  <exit code>, or "running"
    wait <pid>                                      ->  <exit code>

Exit codes are as `os.waitstatus_to_exitcode` gives them: negative for a signal (-9 after SIGKILL).

The caller kills `run` processes from outside, when the sandbox shows they reached the work it wants them to die
in. The KPI recompute makes no API call to watch for, so a `run-dying` process kills itself: with SIGKILL, at the
n-th database event (an SQL statement about to be sent, or a commit about to be sent) inside
`sync.refresh.contacts.refresh`, where n one past the last is the first database event after the recompute returned.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Any

from sqlalchemy import Engine, event

from service.cli import main
from sync.refresh.contacts import refresh


def serve() -> None:
    """Answer requests until stdin closes; children still running are left to the caller."""
    ended: dict[int, int] = {}
    for line in sys.stdin:
        verb, _, arg = line.strip().partition(" ")
        if verb == "run":
            answer = str(_fork(json.loads(arg)))
        elif verb == "run-dying":
            nth, _, args = arg.partition(" ")
            answer = str(_fork(json.loads(args), die_at=int(nth)))
        elif verb == "poll":
            if int(arg) not in ended:
                pid, status = os.waitpid(int(arg), os.WNOHANG)
                if pid:
                    ended[pid] = os.waitstatus_to_exitcode(status)
            answer = str(ended.get(int(arg), "running"))
        elif verb == "wait":
            code = ended.pop(int(arg), None)
            answer = str(code if code is not None else os.waitstatus_to_exitcode(os.waitpid(int(arg), 0)[1]))
        else:
            answer = f"unknown request {verb!r}"
        print(answer, flush=True)


def _fork(args: list[str], die_at: int | None = None) -> int:
    sys.stdout.flush()
    pid = os.fork()
    if pid:
        return pid
    os.dup2(2, 1)  # stdout carries the protocol; whatever the CLI prints goes to stderr
    if die_at is not None:
        _die_in_recompute(die_at)
    try:
        main.main(args=args, prog_name="kpi-sync")
    except SystemExit as done:
        os._exit(done.code if isinstance(done.code, int) else 1)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _die_in_recompute(nth: int) -> None:
    """SIGKILL this process at the `nth` database event of the KPI recompute (see the module docstring)."""
    seen = 0
    over = False

    def on_event(*_: Any, **__: Any) -> None:
        nonlocal seen, over
        if over:
            return
        if _inside_recompute(sys._getframe(1)):
            seen += 1
        elif seen:
            seen, over = seen + 1, True  # the first event after the recompute
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Engine, "before_cursor_execute", on_event)
    event.listen(Engine, "commit", on_event)  # fires before the commit is sent


def _inside_recompute(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code is refresh.__code__:
            return True
        frame = frame.f_back
    return False


if __name__ == "__main__":
    serve()
