#!/usr/bin/env python3
"""Runs a test command and stops it, with a diagnosis, when it stops making progress.

    scripts/watchdog.py --idle 600 -- swift test --skip-build

A hung test would otherwise hold CI until its global timeout and leave nothing to read: output
to a pipe is block-buffered, so the last lines before the hang are lost with the process. Here
the command runs line-buffered (stdbuf), its output is passed through as it comes, and when no
line has arrived for --idle seconds (or the run exceeds --total seconds) the watchdog prints

- the swift-testing tests that started and have not finished,
- the stack of every thread of every process the command started (gdb, when installed),

then stops the command and exits 124.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

STARTED = re.compile(r"Test (\S+?\(.*?\)) started\.")
ENDED = re.compile(r"Test (\S+?\(.*?\)) (?:with \d+ test cases? )?(?:passed|failed|skipped)")


def descendants(pid):
    """Every process below `pid`, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            out.append(child)
            queue.append(child)
    return out


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def diagnose(process, running, reason):
    print(f"\n=== watchdog: {reason} ===", flush=True)
    if running:
        print("tests started and not finished:", flush=True)
        for name in running:
            print(f"  {name}", flush=True)
    pids = [process.pid] + descendants(process.pid)
    print("processes:", flush=True)
    for pid in pids:
        print(f"  {pid} {command_line(pid)[:300]}", flush=True)
    gdb = shutil.which("gdb")
    if gdb:
        for pid in pids:
            if "xctest" not in command_line(pid) and "slipway" not in command_line(pid):
                continue
            print(f"--- threads of {pid} ---", flush=True)
            subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                           stdout=sys.stdout, stderr=subprocess.STDOUT, timeout=300, check=False)
    print("=== watchdog: stopping the run ===", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=600, help="seconds without output before the run counts as hung")
    parser.add_argument("--total", type=float, default=0, help="seconds the whole run may take (0: no limit)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if shutil.which("stdbuf"):
        command = ["stdbuf", "-oL", "-eL"] + command

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    running = {}
    last_line = time.monotonic()
    started = last_line
    lock = threading.Lock()

    def pump():
        nonlocal last_line
        for raw in iter(process.stdout.readline, b""):
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
            line = raw.decode(errors="replace")
            with lock:
                last_line = time.monotonic()
                if "Test case" not in line:
                    if m := STARTED.search(line):
                        running[m.group(1)] = True
                    elif m := ENDED.search(line):
                        running.pop(m.group(1), None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while process.poll() is None:
        time.sleep(5)
        with lock:
            idle = time.monotonic() - last_line
            names = list(running)
        total = time.monotonic() - started
        reason = None
        if idle > args.idle:
            reason = f"no output for {int(idle)} s"
        elif args.total and total > args.total:
            reason = f"the run took longer than {int(args.total)} s"
        if reason:
            diagnose(process, names, reason)
            # The test binary may run in a process group of its own: stop every descendant.
            for pid in [process.pid] + descendants(process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            process.wait()
            return 124
    reader.join(timeout=10)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
