#!/usr/bin/env python3
"""One 8-way race of `harborize bump --push`, every racer's stderr line timestamped.

usage: bench/race-timeline.py BIN DIR
  DIR holds c0 .. c7, clones of one bare remote (bench/race-ab.sh makes them). Each racer
  bumps a different image of the generated repository (bench/bump-images.txt).
Prints the timeline, then the landings (exits in order, and the interval between
consecutive ones: the chain of fetch, replay and push after the first), then
`wall W cpu C` (C: user + sys of all racers and their children).
"""
import os
import resource
import subprocess
import sys
import threading
import time

# The images bench/bump.sh's races bump, one list for both.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bump-images.txt")) as f:
    IMAGES = [line.strip() for line in f if line.strip() and not line.startswith("#")]


def main() -> None:
    binary, root = sys.argv[1], sys.argv[2]
    config = os.path.join(root, "no-render-proof.yaml")
    with open(config, "w") as f:
        f.write("render:\n  proof: false\n")
    lines = []
    lock = threading.Lock()
    start = time.time()

    def read(i: int, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            with lock:
                lines.append((time.time() - start, i, line.rstrip()))
        proc.wait()
        with lock:
            lines.append((time.time() - start, i, f"EXIT {proc.returncode}"))

    threads = []
    for i, image in enumerate(IMAGES):
        proc = subprocess.Popen(
            [binary, "bump", "--harbor", "harbor.example.com", "--config", config,
             "--image", image, "--tag", "bench2", "--all", "--push", "--push-retries", "20", "."],
            cwd=os.path.join(root, f"c{i}"), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        t = threading.Thread(target=read, args=(i, proc))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    wall = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    for at, i, line in sorted(lines):
        # The per-reference report lines say nothing about the race.
        if "rewritten" not in line and "left alone" not in line:
            print(f"{at:7.2f} [{i}] {line[:160]}")
    exits = sorted(at for at, _, line in lines if line.startswith("EXIT"))
    links = [round(b - a, 2) for a, b in zip(exits, exits[1:])]
    print(f"landings {' '.join(f'{e:.2f}' for e in exits)}; links {links}")
    print(f"wall {wall:.2f} cpu {usage.ru_utime + usage.ru_stime:.2f}")


if __name__ == "__main__":
    main()
