"""One service of the topology as an OS process: started in its own process group (so a kill
reaches the children it forks: uvicorn's and Celery's workers, PostgreSQL's backends), its output
in a log file, and restarted by a supervisor when it dies on its own, as systemd or Kubernetes
would restart it in a real deployment."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from viral_pipeline.observability import get_logger

log = get_logger(__name__)

STOP_TIMEOUT_S = 30.0


@dataclass
class ManagedProcess:
    """`command` run with `env` in `cwd`; `held_down` while killed by hand (the supervisor leaves
    it dead until `restart`), so a fault test decides how long the service stays down."""

    name: str
    command: Sequence[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    held_down: bool = False
    restarts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        with self.lock:
            self._start()

    def _start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                list(self.command),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.held_down = False
        log.info("service started", service=self.name, pid=self.popen.pid)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group, and keep it down until `restart`."""
        with self.lock:
            self.held_down = True
            self._signal_group(signal.SIGKILL)
            self._reap(STOP_TIMEOUT_S)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM to the group, SIGKILL after `timeout_s`."""
        with self.lock:
            self.held_down = True
            self._signal_group(signal.SIGTERM)
            if not self._reap(timeout_s):
                self._signal_group(signal.SIGKILL)
                self._reap(STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop it if it runs, then start it again (same command, same port)."""
        self.stop()
        with self.lock:
            self.restarts += 1
            self._start()

    def revive_if_died(self) -> bool:
        """Start it again if it exited while not held down; True when it did."""
        with self.lock:
            if self.held_down or self.popen is None or self.popen.poll() is None:
                return False
            log.warning("service died; restarting", service=self.name, code=self.popen.returncode)
            self.restarts += 1
            self._start()
            return True

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def _reap(self, timeout_s: float) -> bool:
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True


class Supervisor:
    """A thread that revives every dead, not held-down process every `interval_s` seconds."""

    def __init__(self, processes: Callable[[], list[ManagedProcess]], interval_s: float) -> None:
        self._processes, self._interval_s = processes, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval_s + STOP_TIMEOUT_S)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            for process in self._processes():
                try:
                    process.revive_if_died()
                except OSError:
                    log.exception("could not restart a service", service=process.name)
