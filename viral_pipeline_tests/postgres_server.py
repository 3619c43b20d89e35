"""A throwaway PostgreSQL server for the test session.

`PostgresServer` runs `initdb` on a fresh cluster in a temporary directory, starts it with
`pg_ctl` on a free TCP port of 127.0.0.1 (durability switched off: the data is thrown away),
creates one database per test on request, and stops it and removes the directory at the end.

Binaries are looked up on PATH, then under /usr/lib/postgresql/<version>/bin (Debian's
layout, not on PATH), newest version first. `initdb` refuses to run as root, so when the
process runs as root the server runs as the `postgres` OS user (created by Debian's package)
through `runuser`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEBIAN_PREFIX = Path("/usr/lib/postgresql")
SERVER_OS_USER = "postgres"
SUPERUSER = "postgres"

INITDB_TIMEOUT_S = 120
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
SQL_TIMEOUT_S = 30

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresServerError(RuntimeError):
    """The throwaway server could not be created, started or used."""


@dataclass(frozen=True)
class PostgresBinaries:
    initdb: Path
    pg_ctl: Path


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); a non-numeric name sorts first (oldest).
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (-1,)


def find_binaries() -> PostgresBinaries | None:
    """`initdb` and `pg_ctl` from PATH, else from the newest /usr/lib/postgresql/*/bin."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return PostgresBinaries(initdb=Path(initdb), pg_ctl=Path(pg_ctl))
    candidates = sorted(DEBIAN_PREFIX.glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        initdb_path, pg_ctl_path = bindir / "initdb", bindir / "pg_ctl"
        if os.access(initdb_path, os.X_OK) and os.access(pg_ctl_path, os.X_OK):
            return PostgresBinaries(initdb=initdb_path, pg_ctl=pg_ctl_path)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throwaway cluster. Use `start()`/`stop()` or `with PostgresServer() as server:`."""

    def __init__(self, binaries: PostgresBinaries | None = None) -> None:
        found = binaries or find_binaries()
        if found is None:
            raise PostgresServerError("PostgreSQL server binaries (pg_ctl/initdb) not found")
        self.binaries = found
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.base_dir: Path | None = None
        self._as_user: pwd.struct_passwd | None = None
        self._running = False

    # ---- paths -------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base() / "socket"

    @property
    def log_file(self) -> Path:
        return self._base() / "server.log"

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresServerError("the server has not been started")
        return self.base_dir

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> PostgresServer:
        if self._running:
            return self
        started = time.monotonic()
        self._as_user = self._server_os_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix="vp-pg-", dir=self._temp_parent()))
        try:
            self.socket_dir.mkdir()
            if self._as_user is not None:
                for path in (self.base_dir, self.socket_dir):
                    os.chown(path, self._as_user.pw_uid, self._as_user.pw_gid)
            self._initdb()
            self._start_on_free_port()
        except BaseException:
            self._remove_dir()
            raise
        atexit.register(self.stop)
        logger.info(
            "started throwaway PostgreSQL on %s:%s (data in %s) in %.1f s",
            self.host,
            self.port,
            self.base_dir,
            time.monotonic() - started,
        )
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory. Safe to call twice."""
        if self.base_dir is None:
            return
        if self._running:
            try:
                self._run(
                    [
                        str(self.binaries.pg_ctl),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        str(STOP_TIMEOUT_S),
                        "stop",
                    ],
                    timeout=STOP_TIMEOUT_S + 10,
                )
            except PostgresServerError:
                logger.exception("pg_ctl stop failed; killing the postmaster")
                self._kill_postmaster()
            self._running = False
            logger.info("stopped throwaway PostgreSQL on %s:%s", self.host, self.port)
        self._remove_dir()
        atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---- databases ---------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        if not self._running:
            raise PostgresServerError("the server is not running")
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create database `name` (a fresh unique name if None) and return its SQLAlchemy URL."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}: use lowercase letters, digits and _")
        self._admin_execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, disconnecting whoever is still connected to it."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}")
        self._admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin_execute(self, statement: str) -> None:
        import psycopg2

        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            dbname="postgres",
            connect_timeout=10,
            options=f"-c statement_timeout={SQL_TIMEOUT_S * 1000}",
        )
        try:
            connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    # ---- internals ---------------------------------------------------------------------

    @staticmethod
    def _server_os_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            raise PostgresServerError(
                f"running as root, and initdb refuses root; the {SERVER_OS_USER!r} OS user that "
                "Debian's postgresql package creates is missing (apt-get install postgresql)"
            ) from None

    def _temp_parent(self) -> str | None:
        # As root the server runs as `postgres`, which must be able to reach the directory.
        parent = tempfile.gettempdir()
        if self._as_user is not None and not os.stat(parent).st_mode & 0o001:
            return "/tmp"
        return parent

    def _command(self, args: list[str]) -> list[str]:
        if self._as_user is None:
            return args
        return ["runuser", "-u", self._as_user.pw_name, "--", *args]

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        command = self._command(args)
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.base_dir,
                env={**os.environ, "LC_ALL": "C", "LANG": "C"},
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise PostgresServerError(
                f"timed out after {timeout} s: {' '.join(command)}"
            ) from error
        if result.returncode != 0:
            raise PostgresServerError(
                f"{' '.join(command)} exited {result.returncode}\n"
                f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}"
                f"{self._log_tail()}"
            )
        return result

    def _initdb(self) -> None:
        self._run(
            [
                str(self.binaries.initdb),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--no-locale",
                "--auth=trust",
                "--no-sync",
            ],
            timeout=INITDB_TIMEOUT_S,
        )

    def _start_on_free_port(self, attempts: int = 3) -> None:
        # Another process may take the port between choosing and binding it: try again.
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.socket_dir} -c listen_addresses={self.host} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run(
                    [
                        str(self.binaries.pg_ctl),
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-w",
                        "-t",
                        str(START_TIMEOUT_S),
                        "-o",
                        options,
                        "start",
                    ],
                    timeout=START_TIMEOUT_S + 10,
                )
            except PostgresServerError:
                self._kill_postmaster()
                if attempt == attempts:
                    raise
                logger.warning("PostgreSQL did not start on port %s; trying another", self.port)
                continue
            self._running = True
            return

    def _kill_postmaster(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 9)
            for _ in range(50):
                os.kill(pid, 0)  # raises once the process is gone
                time.sleep(0.1)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(tail)

    def _remove_dir(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
