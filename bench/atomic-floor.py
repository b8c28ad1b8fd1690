#!/usr/bin/env python3
"""The floor under `rewrite`'s writes: only what an all-or-nothing, durable rewrite must do.

usage: atomic-floor.py NEW_TREE TARGET_TREE LIST

For every relative path in LIST (one per line), the bytes of NEW_TREE/path replace
TARGET_TREE/path the way harborize's fsio batch does it: every temporary file written beside
its target first, one syncfs, every rename (the replaced file held open across it, so the
rename does not wait for its blocks to be freed), the old files closed on eight threads,
one more syncfs for the renames (as harborize does on Linux). No parsing, planning or proof: bench/bump.sh times this
beside `rewrite` so the ratio of the writes alone is measured in the same run.

With ATOMIC_FLOOR_PHASES set, the time of each phase goes to stderr (BENCHMARKS.md, "The
same code on another machine").
"""
import ctypes
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

libc = ctypes.CDLL(None, use_errno=True)


def main() -> None:
    new_tree, target, listing = sys.argv[1:4]
    with open(listing, encoding="utf-8") as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    phases = Phases(bool(os.environ.get("ATOMIC_FLOOR_PHASES")))
    staged = []
    for rel in paths:
        with open(os.path.join(new_tree, rel), "rb") as f:
            data = f.read()
        dest = os.path.join(target, rel)
        temp = os.path.join(os.path.dirname(dest), "." + os.path.basename(dest) + ".floor-tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)
        staged.append((temp, dest))
    phases.end("temporary files")
    syncfs(target)
    phases.end("syncfs")
    held = []
    for temp, dest in staged:
        held.append(os.open(dest, os.O_RDONLY))
        os.rename(temp, dest)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(os.close, held))
    phases.end("renames and releases")
    syncfs(target)
    phases.end("syncfs")


class Phases:
    """Prints how long each phase took, when asked."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.last = time.perf_counter()

    def end(self, name: str) -> None:
        now = time.perf_counter()
        if self.on:
            print(f"{name}: {now - self.last:.3f} s", file=sys.stderr)
        self.last = now


def syncfs(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs")
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
