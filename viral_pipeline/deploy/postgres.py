"""The topology's own PostgreSQL cluster: `initdb` once in the work directory, then `postgres`
in the foreground (a process the topology can kill and restart; on restart it replays its WAL).

`initdb` refuses to run as root: as root, the cluster belongs to the `postgres` OS user that
Debian's package creates, and both commands run through `runuser`.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
INITDB_TIMEOUT_S = 120
DEBIAN_PREFIX = Path("/usr/lib/postgresql")


def server_bindir() -> Path | None:
    """The directory of `initdb` and `postgres`: beside `initdb` on PATH, else Debian's newest."""
    initdb = shutil.which("initdb")
    candidates = [Path(initdb).resolve().parent] if initdb else []
    candidates += sorted(DEBIAN_PREFIX.glob("*/bin"), reverse=True)
    for bindir in candidates:
        if os.access(bindir / "initdb", os.X_OK) and os.access(bindir / "postgres", os.X_OK):
            return bindir
    return None


def _os_user() -> pwd.struct_passwd | None:
    return pwd.getpwnam(SERVER_OS_USER) if os.geteuid() == 0 else None


def data_dir_for(workdir: Path) -> Path:
    """`workdir/postgres/data`, unless the server's OS user cannot reach `workdir` (a private
    temporary directory of root's): then a directory of its own under the system's temp dir,
    named after `workdir` so the same work directory finds the same cluster again."""
    user = _os_user()
    if user is None or _reachable_by_others(workdir):
        return workdir / "postgres" / "data"
    digest = hashlib.sha256(str(workdir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"viral-pipeline-postgres-{digest}" / "data"


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(part).st_mode & 0o001 for part in [path, *path.parents] if part.exists())


def as_server_user(args: list[str]) -> list[str]:
    user = _os_user()
    return args if user is None else ["runuser", "-u", user.pw_name, "--", *args]


def initdb(bindir: Path, data_dir: Path) -> None:
    """A fresh cluster in `data_dir` (trust auth on 127.0.0.1: a throwaway, local server)."""
    user = _os_user()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(data_dir.parent, user.pw_uid, user.pw_gid)
    command = [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-E", "UTF8"]
    command += ["--no-locale", "--auth=trust", "--no-sync"]
    subprocess.run(
        as_server_user(command),
        check=True,
        capture_output=True,
        timeout=INITDB_TIMEOUT_S,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
    )


def server_command(bindir: Path, data_dir: Path, port: int) -> list[str]:
    # The socket directory is the data directory, so no system path is needed.
    return as_server_user(
        [
            str(bindir / "postgres"),
            "-D",
            str(data_dir),
            "-p",
            str(port),
            "-k",
            str(data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
            # Durable commits, PostgreSQL's defaults, stated because speed tempts otherwise: with
            # synchronous_commit off, a PostgreSQL killed mid-burst lost a run it had already
            # acknowledged, and its request ended with no run (bench/faults.py). A WAL flush costs
            # about 0.07 ms here (pg_test_fsync), some 60 per prediction run.
            "-c",
            "fsync=on",
            "-c",
            "synchronous_commit=on",
        ]
    )


def create_databases(port: int, names: list[str]) -> None:
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", connect_timeout=10
    )
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    finally:
        connection.close()
