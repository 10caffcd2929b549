"""Server CPU and memory, and whether the rest of the machine kept quiet, read from /proc (Linux).

psutil is used where /proc is missing; without either the figures are reported as unavailable."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

PROC = Path("/proc")
HAVE_PROC = (PROC / "stat").exists()
try:
    import psutil
except ImportError:  # optional
    psutil = None

TICK = os.sysconf("SC_CLK_TCK") if HAVE_PROC else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if HAVE_PROC else 4096


@dataclass(frozen=True)
class ProcInfo:
    ppid: int
    cpu_seconds: float  # user + system of the process itself
    rss_bytes: int


def proc_info(pid: int) -> ProcInfo | None:
    if HAVE_PROC:
        try:
            raw = (PROC / str(pid) / "stat").read_text()
        except OSError:
            return None
        rest = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
        return ProcInfo(int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK, int(rest[21]) * PAGE)
    if psutil is not None:
        try:
            p = psutil.Process(pid)
            cpu = p.cpu_times()
            return ProcInfo(p.ppid(), cpu.user + cpu.system, p.memory_info().rss)
        except psutil.Error:
            return None
    return None


def all_pids() -> list[int]:
    if HAVE_PROC:
        return [int(name) for name in os.listdir(PROC) if name.isdigit()]
    return psutil.pids() if psutil is not None else []


def tree(root: int) -> list[int]:
    """root and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        info = proc_info(pid)
        if info is not None:
            children.setdefault(info.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def pids_with_cmdline(fragment: str) -> list[int]:
    """Processes whose command line holds fragment: PostgreSQL titles its backends `postgres: user db ...`."""
    found = []
    for pid in all_pids():
        try:
            if HAVE_PROC:
                cmdline = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace")
            elif psutil is not None:
                cmdline = " ".join(psutil.Process(pid).cmdline())
            else:
                return []
        except Exception:  # vanished or not ours to read
            continue
        if fragment in cmdline:
            found.append(pid)
    return found


def listening_pid(port: int, candidates: Iterable[int]) -> int | None:
    """Which of candidates holds the loopback socket listening on port: the process actually serving."""
    candidates = list(candidates)
    if not HAVE_PROC:
        if psutil is None:
            return None
        for pid in candidates:
            try:
                conns = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
                return pid
        return None
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    for pid in candidates:
        try:
            fds = os.listdir(PROC / str(pid) / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(PROC / str(pid) / "fd" / fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    if HAVE_PROC:
        fields = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        return (user + nice + system + irq + softirq + steal) / TICK
    if psutil is not None:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)
    return None


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# A pairing's waits for a server to go idle after its turn (`tracking.pairing`): metered, but not a timed phase, so
# they do not dilute the load measured while figures were timed.
BETWEEN_TURNS = "between turns"


@dataclass
class Snapshot:
    wall: float
    busy: float | None
    own: dict[int, float]  # pid -> CPU seconds, for the server's processes
    me: float  # this benchmark process
    partners: dict[int, float] = field(default_factory=dict)  # the same for `Meter.partners`


def _my_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the processes of `after` used since `before`; one that started meanwhile counts whole, one that
    ended meanwhile is not seen (its last seconds are lost, never its whole life subtracted)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _cpu_of(pids: Iterable[int]) -> dict[int, float]:
    return {pid: info.cpu_seconds for pid in pids if (info := proc_info(pid)) is not None}


@dataclass
class PhaseFigures:
    wall: float
    server_cpu: float
    # CPU seconds of processes that are neither the server, its partners nor us, unclamped: a phase measured in
    # many short parts adds up their differences, each read in 10 ms ticks, and clamps once (`outside_cores`).
    outside_cpu: float | None
    partner_cpu: float = 0.0  # CPU seconds the partner servers used meanwhile (between their own turns)

    @property
    def outside_cores(self) -> float | None:
        if self.outside_cpu is None or not self.wall:
            return None
        return max(0.0, self.outside_cpu) / self.wall


class Measured(Protocol):
    def tree_pids(self) -> list[int]: ...  # the server's process tree

    def pids(self) -> list[int]: ...  # the tree plus the database processes working for it

    def serving_pid(self) -> int | None: ...  # the process listening on the server's port


@dataclass
class Meter:
    """Samples a server's processes around each phase. The process list is re-read at every sample, so
    processes the server starts meanwhile (PostgreSQL backends, job runners) are counted from their first
    sighting."""

    server: Measured
    phases: dict[str, PhaseFigures] = field(default_factory=dict)
    rss_peak: tuple[int, int] = (0, 0)  # (serving process, whole tree) in bytes, largest sampled
    # Servers up at the same time, taking turns with this one (`tracking.pairing`): their CPU while this one is
    # timed is reported on its own line, not mixed into the outside load.
    partners: tuple[Measured, ...] = ()

    def snapshot(self, closing: bool = False) -> Snapshot:
        """The clock, the machine's and our own CPU are read after the process scans at a phase's start and
        before them at its end (`closing`), so that a phase's wall and CPU figures span it and not the scans
        (which take as long as a short part on PostgreSQL)."""
        if closing:
            wall, busy, me = time.perf_counter(), machine_busy_seconds(), _my_cpu()
        own = _cpu_of(self.server.pids())
        partners = _cpu_of(pid for partner in self.partners for pid in partner.pids())
        if not closing:
            wall, busy, me = time.perf_counter(), machine_busy_seconds(), _my_cpu()
        return Snapshot(wall, busy, own, me, partners)

    def record(self, name: str, before: Snapshot, after: Snapshot) -> None:
        server = _cpu_since(before.own, after.own)
        partner = _cpu_since(before.partners, after.partners)
        wall = after.wall - before.wall
        outside = None
        if before.busy is not None and after.busy is not None:
            outside = (after.busy - before.busy) - server - partner - (after.me - before.me)
        prev = self.phases.get(name)
        if prev is not None:  # a phase done in parts (run creation at each scale, a pairing's turns) adds up
            both = None if prev.outside_cpu is None or outside is None else prev.outside_cpu + outside
            self.phases[name] = PhaseFigures(
                prev.wall + wall, prev.server_cpu + server, both, prev.partner_cpu + partner
            )
        else:
            self.phases[name] = PhaseFigures(wall, server, outside, partner)
        self.sample_rss()

    def sample_rss(self) -> None:
        infos = {pid: proc_info(pid) for pid in self.server.tree_pids()}
        whole = sum(info.rss_bytes for info in infos.values() if info is not None)
        serving = infos.get(self.server.serving_pid() or -1)
        serving_rss = serving.rss_bytes if serving is not None else 0
        self.rss_peak = (max(self.rss_peak[0], serving_rss), max(self.rss_peak[1], whole))

    def _timed(self) -> list[PhaseFigures]:
        return [p for name, p in self.phases.items() if name != BETWEEN_TURNS]

    def outside_cores(self) -> float | None:
        """Average over the timed phases, weighted by their length."""
        parts = [(p.wall, p.outside_cores) for p in self._timed() if p.outside_cores is not None]
        wall = sum(w for w, _ in parts)
        return sum(w * c for w, c in parts) / wall if wall else None

    def partner_cores(self) -> float | None:
        """Average cores the partner servers kept busy while this one was timed; None without partners."""
        wall = sum(p.wall for p in self._timed())
        if not self.partners or not wall:
            return None
        return sum(p.partner_cpu for p in self._timed()) / wall


def quiet_probe(seconds: float = 2.0) -> float | None:
    """Average cores the rest of the machine keeps busy while the benchmark has nothing running."""
    before, me0, t0 = machine_busy_seconds(), _my_cpu(), time.perf_counter()
    time.sleep(seconds)
    after, me1, t1 = machine_busy_seconds(), _my_cpu(), time.perf_counter()
    if before is None or after is None:
        return None
    return max(0.0, (after - before) - (me1 - me0)) / (t1 - t0)


def settle(server: Measured, idle_cores: float = 0.05, window: float = 1.0, timeout: float = 90.0) -> float:
    """Wait until the server's processes are idle (MLflow starts job runners that import for seconds after
    it answers), so that no figure pays for start-up. Returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = {pid: info.cpu_seconds for pid in server.pids() if (info := proc_info(pid)) is not None}
        time.sleep(window)
        busy = sum(
            info.cpu_seconds - before.get(pid, 0.0)
            for pid in server.pids()
            if (info := proc_info(pid)) is not None
        )
        if busy / window < idle_cores:
            break
    return time.perf_counter() - started
