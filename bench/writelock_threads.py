"""How many threads Herald's SQLite write lock starts when many writers contend in one process.

Run: ``.venv/bin/python bench/writelock_threads.py [writers] [hold_ms]``. Each writer takes the write
lock once and holds it ``hold_ms``; the figures are the peak number of live threads beyond the
writers themselves and the wall time.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time

from herald.db import writelock


def main(writers: int = 64, hold_ms: float = 5.0) -> None:
    """Print the peak count of extra threads while ``writers`` threads contend for one write lock."""
    with tempfile.TemporaryDirectory() as directory:
        path = writelock.lock_path(f"{directory}/herald.db")
        start = threading.Barrier(writers + 1)
        baseline = threading.active_count() + writers
        peak = 0
        done = threading.Event()

        def write() -> None:
            start.wait()
            with writelock.SerialisedWrite(path, _Nothing(), timeout=60):
                time.sleep(hold_ms / 1000)

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, threading.active_count() - baseline - 1)
                time.sleep(0.0005)

        threads = [threading.Thread(target=write) for _ in range(writers)]
        for thread in threads:
            thread.start()
        watcher = threading.Thread(target=watch)
        watcher.start()
        began = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        done.set()
        watcher.join()
    print(f"writers={writers} hold={hold_ms:g} ms: peak extra threads={peak}, wall={elapsed:.3f} s "
          f"(ideal {writers * hold_ms / 1000:.3f} s)")


class _Nothing:
    """A transaction that does nothing: the figures are the lock's alone."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


if __name__ == "__main__":
    main(*(float(arg) if index else int(arg) for index, arg in enumerate(sys.argv[1:])))
