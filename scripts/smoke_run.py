"""Smoke-check the README's first command as a person runs it: in a terminal, then Ctrl-C.

Runs `bash scripts/run.sh` under a pseudo-terminal (so Ctrl-C is a real terminal interrupt, not
a signal sent from a script that may ignore it), waits until it is up, posts one prediction
request with the caller token run.sh printed (from `.env`) and waits for its result, presses
Ctrl-C, and checks that every process it started has exited and that every line of
`.run/api.log` and `.run/dagster.log` is a JSON object. It uses
this checkout's state (.venv, data/, mlflow/, .dagster_home, .run/) exactly as `scripts/run.sh`
does, on the ports below (BOOTSTRAP_DAYS defaults to 1 here to save time).
Exit code 0 when every check passes.

    .venv/bin/python scripts/smoke_run.py [--dagster-port 3931] [--api-port 8931] [--mlflow-port 5931]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = b"Ctrl-C stops them all"


def _read(fd: int, timeout: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal closed: the script is gone
        return b""


def _api_token() -> str:
    """The token run.sh made sure of and printed (scripts/local_api_token.py, read from .env)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "local_api_token.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()


def _predict(api_port: int) -> dict:
    auth = {"Authorization": f"Bearer {_api_token()}"}
    body = json.dumps(
        {"caption": "Smoke test #fyp", "duration_s": 20, "hook": "Wait for it"}
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{api_port}/api/analyze",
        data=body,
        headers={"content-type": "application/json", **auth},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        request_id = json.load(answer)["request_id"]
    url = f"http://127.0.0.1:{api_port}/api/predictions/{request_id}?wait=30"  # the API's longest wait
    for _ in range(6):
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=auth), timeout=40
        ) as answer:
            prediction = json.load(answer)
        if prediction["status"] in ("succeeded", "failed"):
            break
    return prediction


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _left_over() -> list[str]:
    found = subprocess.run(
        ["pgrep", "-af", f"{ROOT}/.venv/bin|dg dev|dagster dev|mlflow ui"],
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in found.splitlines() if "smoke_run.py" not in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dagster-port", type=int, default=3931)
    parser.add_argument("--api-port", type=int, default=8931)
    parser.add_argument("--mlflow-port", type=int, default=5931)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for start-up")
    args = parser.parse_args()

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal session, with the signal dispositions of a fresh shell
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(number, signal.SIG_DFL)
        os.chdir(ROOT)
        os.environ.update(
            DAGSTER_PORT=str(args.dagster_port),
            API_PORT=str(args.api_port),
            MLFLOW_PORT=str(args.mlflow_port),
        )
        os.environ.setdefault("BOOTSTRAP_DAYS", "1")
        os.execvp("bash", ["bash", "scripts/run.sh"])

    output = b""
    deadline = time.monotonic() + args.timeout
    while READY not in output and time.monotonic() < deadline:
        output += _read(fd, 1.0)
    results = {"started": READY in output, "prediction succeeded": False}
    try:
        if results["started"]:
            prediction = _predict(args.api_port)
            results["prediction succeeded"] = prediction["status"] == "succeeded"
            sys.stdout.write(
                f"smoke: prediction {prediction['status']}: "
                f"{json.dumps(prediction.get('result'))[:200]}\n"
            )
    except OSError as error:  # the API did not answer as it should: still stop everything
        sys.stdout.write(f"smoke: prediction request failed: {error}\n")
    finally:
        os.write(fd, b"\x03")  # Ctrl-C: the terminal interrupts its foreground process group
    pressed = time.monotonic()
    while time.monotonic() - pressed < 120 and os.waitpid(pid, os.WNOHANG)[0] == 0:
        output += _read(fd, 0.5)
    stopped_after = time.monotonic() - pressed
    time.sleep(2)
    left = _left_over()
    results["everything stopped"] = not left
    for name in ("api.log", "dagster.log"):
        lines = [
            line
            for line in (ROOT / ".run" / name).read_text(errors="replace").splitlines()
            if line.strip()
        ]
        not_json = [line for line in lines if not _is_json_object(line)]
        results[f".run/{name}: {len(lines)} lines, all JSON"] = bool(lines) and not not_json
        for line in not_json[:3]:
            sys.stdout.write(f"smoke: not JSON in .run/{name}: {line[:160]}\n")
    sys.stdout.write(
        f"smoke: run.sh exited {stopped_after:.1f} s after Ctrl-C; left running: {left or 'nothing'}\n"
    )
    for step, ok in results.items():
        sys.stdout.write(f"  {'PASS' if ok else 'FAIL'} {step}\n")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
