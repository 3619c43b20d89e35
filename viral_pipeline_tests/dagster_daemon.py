"""The real Dagster daemon for tests, as `scripts/run.sh` runs it: `dagster-daemon run` on the
workspace, with its own DAGSTER_HOME holding the repo's dagster.yaml, JSON log lines in a file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Daemon:
    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log, self.proc = home, log, None

    @classmethod
    def in_dir(cls, directory: Path) -> "Daemon":
        """A daemon whose instance (the repo's dagster.yaml) and log live in `directory`, apart
        from the instance the settings fixture made."""
        home = directory / "daemon_home"
        home.mkdir()
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        return cls(home, directory / "daemon.log")

    def start(self) -> None:
        env = {**os.environ, "DAGSTER_HOME": str(self.home), "PYTHONPATH": str(REPO)}
        daemon = Path(sys.executable).parent / "dagster-daemon"
        with open(self.log, "a") as log:
            # As scripts/run.sh runs it (there within `dagster dev`): JSON log lines.
            self.proc = subprocess.Popen(
                [str(daemon), "run", "--log-format", "json", "-w", str(REPO / "workspace.yaml")],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text()[-chars:] if self.log.exists() else "(no daemon log)"
