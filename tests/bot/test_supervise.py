"""The supervisor restarts a child that dies and stops with it on SIGTERM — real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bot.supervise import supervise


def test_a_child_that_dies_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    # Dies twice at start-up, then stays (and ends cleanly when told).
    child = textwrap.dedent(f"""
        import pathlib, signal, sys, time
        starts = pathlib.Path({str(starts)!r})
        count = len(starts.read_text()) if starts.exists() else 0
        starts.write_text("x" * (count + 1))
        if count < 2:
            sys.exit(3)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(0.05)
    """)
    supervisor_script = tmp_path / "supervisor.py"
    supervisor_script.write_text(textwrap.dedent(f"""
        import sys
        from bot.supervise import supervise
        sys.exit(supervise([sys.executable, "-c", {child!r}], sleep=lambda seconds: None))
    """))
    supervisor = subprocess.Popen([sys.executable, str(supervisor_script)], cwd=Path(__file__).parents[2])
    try:
        for _ in range(600):
            if starts.exists() and len(starts.read_text()) == 3:
                break
            time.sleep(0.05)
        assert len(starts.read_text()) == 3, "started again after each death"
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0, "the child's clean exit is the supervisor's"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_pauses_grow_while_the_child_keeps_dying_at_start_up() -> None:
    pauses: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 4:
            os.kill(os.getpid(), signal.SIGTERM)  # as systemd stopping the service

    assert supervise([sys.executable, "-c", "import sys; sys.exit(1)"], sleep=sleep, clock=lambda: now[0]) == 1
    assert pauses == [1.0, 2.0, 4.0, 8.0]
