#!/usr/bin/env python3
"""Exec-to-exit time of several commands, measured round-robin in one run.

Each round runs every command once (posix_spawn, output to /dev/null, waitpid), so a
machine that slows down or speeds up during the run shifts every command alike; hyperfine
runs one command's batch after another's and drifted by 15% here. Prints, per command, the
median, 10th and 90th percentiles in milliseconds and the ratio of its median to the first
command's (or to --reference=N's). The spawn's own overhead (Python's) is in every figure.

Usage: exec-time.py [--runs=N] [--warmup=N] [--reference=INDEX] "COMMAND ARGS..." ...
"""
import os
import shlex
import statistics
import sys
import time


def main() -> int:
    runs, warmup, reference = 1000, 20, 0
    commands = []
    for argument in sys.argv[1:]:
        if argument.startswith("--runs="):
            runs = int(argument.split("=", 1)[1])
        elif argument.startswith("--warmup="):
            warmup = int(argument.split("=", 1)[1])
        elif argument.startswith("--reference="):
            reference = int(argument.split("=", 1)[1])
        else:
            commands.append(shlex.split(argument))
    if not commands or runs < 1 or not 0 <= reference < len(commands):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    null = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
    times = [[] for _ in commands]
    for round_ in range(warmup + runs):
        for index, command in enumerate(commands):
            start = time.monotonic_ns()
            pid = os.posix_spawn(command[0], command, os.environ, file_actions=actions)
            _, status = os.waitpid(pid, 0)
            elapsed = time.monotonic_ns() - start
            if round_ == 0 and status != 0:
                print(f"exec-time: {' '.join(command)} exited with status {status >> 8}", file=sys.stderr)
            if round_ >= warmup:
                times[index].append(elapsed / 1e6)
    base = statistics.median(times[reference])
    for command, samples in zip(commands, times):
        samples.sort()
        median = statistics.median(samples)
        print(f"  {' '.join(os.path.basename(part) if part.startswith('/') else part for part in command):45s} "
              f"median {median:.3f} ms  p10 {samples[len(samples) // 10]:.3f}  p90 {samples[len(samples) * 9 // 10]:.3f}"
              f"  ({median / base:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
