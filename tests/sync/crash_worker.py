"""A fork server for the crash suite: it imports the `kpi-sync` CLI once, then forks one CLI process per request.

The tests kill those processes with SIGKILL many times; a fresh interpreter for each run would spend most of the
suite's time importing. The forked child runs the very same entry point as `kpi-sync`, in its own process with its
own database connections. One line each way on stdin/stdout:

    run <JSON list of CLI arguments>  ->  <pid>
    poll <pid>                        ->  <exit code>, or "running"
    wait <pid>                        ->  <exit code>

Exit codes are as `os.waitstatus_to_exitcode` gives them: negative for a signal (-9 after SIGKILL).
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from sync.cli import main


def serve() -> None:
    """Answer requests until stdin closes; children still running are left to the caller."""
    ended: dict[int, int] = {}
    for line in sys.stdin:
        verb, _, arg = line.strip().partition(" ")
        if verb == "run":
            answer = str(_fork(json.loads(arg)))
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


def _fork(args: list[str]) -> int:
    sys.stdout.flush()
    pid = os.fork()
    if pid:
        return pid
    os.dup2(2, 1)  # stdout carries the protocol; whatever the CLI prints goes to stderr
    try:
        main.main(args=args, prog_name="kpi-sync")
    except SystemExit as done:
        os._exit(done.code if isinstance(done.code, int) else 1)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    serve()
