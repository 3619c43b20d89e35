"""CPU seconds a set of service processes used over an interval, read from /proc (Linux).

A process tree's CPU is, for every live process under the roots, its own user+system time plus
its reaped children's (cutime+cstime, which the kernel adds to a parent when it waits for a
child). A run worker that exits and is reaped by a service (the default launcher's per-run
process, reaped by the code server or daemon that spawned it) is so counted in full; one orphaned
and reaped by init outside the trees is not, so the figure is a lower bound. The machine's busy
time over the same interval (/proc/stat, every process of every tenant) is the upper bound.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children), None once gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / TICK


def tree_cpu(roots: Iterable[int]) -> float:
    """CPU seconds so far of the processes `roots` and every live descendant."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, [r for r in roots if r in stats], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def machine_busy() -> float:
    """CPU seconds all CPUs spent not idle since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / TICK


@dataclass
class CpuWindow:
    """CPU used between `start()` and `stop()` by the roots' trees and by the whole machine."""

    roots: list[int]
    services_s: float = 0.0
    machine_s: float = 0.0

    def start(self) -> CpuWindow:
        self._services0, self._machine0 = tree_cpu(self.roots), machine_busy()
        return self

    def stop(self) -> CpuWindow:
        self.services_s = tree_cpu(self.roots) - self._services0
        self.machine_s = machine_busy() - self._machine0
        return self
