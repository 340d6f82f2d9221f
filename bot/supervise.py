"""Keep a child command running: restart it when it dies, stop it when we are told to stop.

``tsunagu worker`` runs Dramatiq's workers under :func:`supervise`. Dramatiq ends all its worker
processes when one of them is killed (an out-of-memory kill, an operator's mistake), which would
leave missing-person alerts unsent until someone noticed; the supervisor starts it again at
once, then with a growing pause if it keeps dying at start-up (a wrong setting), so a broken
deployment does not spin. SIGTERM or SIGINT is passed on to the child, and the supervisor ends
with it.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from types import FrameType

__all__ = ["supervise"]

log = logging.getLogger(__name__)

STABLE_SECONDS = 60.0  # a child that ran this long died of something new: restart at once
FIRST_PAUSE = 1.0
MAX_PAUSE = 60.0


def supervise(argv: Sequence[str], *, sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic) -> int:
    """Run ``argv`` until a stop signal arrives, restarting it whenever it exits.

    Returns:
        The child's exit code once it ended after SIGTERM/SIGINT (0 when it stopped cleanly).
    """
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    pause = FIRST_PAUSE
    try:
        while True:
            started = clock()
            child = subprocess.Popen(list(argv))
            code = child.wait()
            if stopping:
                return code
            ran = clock() - started
            if ran >= STABLE_SECONDS:
                pause = FIRST_PAUSE
                log.warning("supervised process exited with code %s after %.0f s: restarting", code, ran)
                continue
            log.warning("supervised process exited with code %s after %.1f s: restarting in %.0f s",
                        code, ran, pause)
            sleep(pause)
            if stopping:
                return code
            pause = min(pause * 2, MAX_PAUSE)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
