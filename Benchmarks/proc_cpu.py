"""CPU accounting from /proc for the benchmarks (Linux only, standard library only)."""
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """utime + stime of one process (all its threads), in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def children_of(ppid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                    kids.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def context_switches(pid):
    """Voluntary + involuntary context switches of all threads of a process."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def machine_ticks():
    """(busy, total) clock ticks of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def postgres_ticks(postmaster_pid):
    """pid -> CPU ticks of the PostgreSQL server: the postmaster and every backend."""
    return {pid: cpu_ticks(pid) for pid in [postmaster_pid] + children_of(postmaster_pid)}


def postgres_delta(before, after):
    """CPU ticks the server used between two `postgres_ticks` readings (backends that ended
    in between are lost; the replicas keep their pooled connections, so few are)."""
    return sum(after[pid] - before.get(pid, 0) for pid in after)


class Meter:
    """CPU seconds used between start() and stop() by named processes, by a PostgreSQL server
    (postmaster pid, optional), by this process itself, and by the whole machine."""

    def __init__(self, pids, postgres_pid=None):
        self.pids = pids  # name -> pid
        self.postgres_pid = postgres_pid

    def _read(self):
        import resource
        import time
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return (time.monotonic(), {n: cpu_ticks(p) for n, p in self.pids.items()},
                postgres_ticks(self.postgres_pid) if self.postgres_pid else {},
                ru.ru_utime + ru.ru_stime, machine_ticks()[0])

    def start(self):
        self._a = self._read()

    def stop(self):
        """name -> CPU seconds, plus "postgres", "client" (this process), "machine", "wall"."""
        t1, p1, pg1, self1, m1 = self._read()
        t0, p0, pg0, self0, m0 = self._a
        out = {n: (p1[n] - p0[n]) / CLK_TCK for n in self.pids}
        if self.postgres_pid:
            out["postgres"] = postgres_delta(pg0, pg1) / CLK_TCK
        out["client"] = self1 - self0
        out["machine"] = (m1 - m0) / CLK_TCK
        out["wall"] = t1 - t0
        return out
