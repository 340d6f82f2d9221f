"""Classifier speed: training time, model load time, p50/p99 per message, messages per second in batch.

Targets (issue 4): training <= 120 s, model load <= 3 s, p99 <= 20 ms per message on the
2-core machine. Training is timed in a temporary data dir (the saved model is left alone)
and that model is the one measured; with --no-training the saved model is used (trained
first, untimed, if there is none). Load is timed in a fresh process, as a worker starting
up would pay it.
Usage: python benchmarks/classify_latency.py [--messages 500] [--no-training]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bot.settings import settings
from intents.classifier import get_classifier, train_model
from intents.data import load_split
from intents.model import TrainReport

_LOAD_PROBE = """
import json, time
started = time.perf_counter()
from intents.classifier import get_classifier
classifier = get_classifier()
classifier.classify("こんにちは")
print(json.dumps({"load": time.perf_counter() - started}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500, help="messages timed one by one")
    parser.add_argument("--no-training", action="store_true", help="measure the saved model; do not time training")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        training: TrainReport | None = None
        if not args.no_training:
            settings.data_dir = Path(scratch)
            training = train_model(progress=True)
        classifier = get_classifier()  # loads (or first trains) the model, so the probe only loads it
        probe = subprocess.run([sys.executable, "-c", _LOAD_PROBE], capture_output=True, text=True, check=True,
                               env={**os.environ, "TSUNAGU_DATA_DIR": str(settings.data_dir)})
    load_seconds = json.loads(probe.stdout.strip().splitlines()[-1])["load"]

    texts = [e.text for e in load_split("eval")] or ["母の介護のことで相談したい"]
    messages = [texts[i % len(texts)] for i in range(args.messages)]
    for text in messages[:20]:
        classifier.classify(text)  # warm caches
    timings = []
    for text in messages:
        started = time.perf_counter()
        classifier.classify(text)
        timings.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    classifier.classify_many(messages)
    batch_rate = len(messages) / (time.perf_counter() - started)

    table = Table(title=f"Classifier speed ({type(classifier).__name__}, {len(messages)} messages)")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    if training is not None:
        table.add_row(f"training ({training.examples} examples: encode, tune, fit)", f"{training.seconds:.1f} s",
                      "<= 120 s")
    table.add_row("model load (fresh process)", f"{load_seconds:.2f} s", "<= 3 s")
    table.add_row("p50 per message", f"{np.percentile(timings, 50):.2f} ms", "")
    table.add_row("p99 per message", f"{np.percentile(timings, 99):.2f} ms", "<= 20 ms")
    table.add_row("batch throughput", f"{batch_rate:.0f} messages/s", "")
    Console().print(table)


if __name__ == "__main__":
    main()
