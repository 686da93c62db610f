"""The odmirror process ends without Python's teardown, after what must run at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

FINISH = "from etl.cli import finish\n"


def python(code: str) -> subprocess.Popen[str]:
    # Output to a pipe is buffered (unless the environment says otherwise, as some CI does).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.Popen(
        [sys.executable, "-c", FINISH + textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_exit_callbacks_run_and_buffered_output_is_written(tmp_path: Path) -> None:
    proc = python(
        """
        import atexit, logging, tempfile
        logging.getLogger().addHandler(logging.FileHandler("%s"))
        logging.getLogger().warning("logged before the end")
        atexit.register(lambda: print("atexit ran"))
        kept = tempfile.TemporaryDirectory(prefix="odm-exit-")
        print(kept.name)
        print("buffered, no newline", end="")
        finish(3)
        """
        % (tmp_path / "log.txt")
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    lines = out.splitlines()
    assert lines[1:] == ["buffered, no newlineatexit ran"]
    assert (tmp_path / "log.txt").read_text() == "logged before the end\n"
    assert not Path(lines[0]).exists()  # the temporary directory was removed


def test_a_thread_still_running_is_waited_for() -> None:
    proc = python(
        """
        import sys, threading
        def worker():
            sys.stdin.readline()
            print("worker done", flush=True)
        threading.Thread(target=worker).start()
        print("ready", flush=True)
        finish(0)
        """
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "ready\n"
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass  # the process ended without waiting: the assertion below says so
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (0, "worker done\n")
