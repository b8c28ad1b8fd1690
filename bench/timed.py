#!/usr/bin/env python3
"""Run a command and append "wall user sys exit" (seconds, from wait4) to a file.

usage: bench/timed.py OUT_FILE CMD [ARG...]

The CPU times are the child's own rusage from wait4, including every descendant it waited
for (so a shell running eight racers reports the CPU of all eight). stdout and stderr of the
command go to /dev/null unless TIMED_STDERR names a file for stderr.
"""
import os
import subprocess
import sys
import time


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    err_path = os.environ.get("TIMED_STDERR")
    err = open(err_path, "ab") if err_path else subprocess.DEVNULL
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(out, "a") as f:
        f.write(f"{wall:.4f} {usage.ru_utime:.4f} {usage.ru_stime:.4f} {code}\n")


if __name__ == "__main__":
    main()
