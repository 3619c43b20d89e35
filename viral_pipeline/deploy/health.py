"""Is a service answering? One probe per kind of service, each bounded by a short timeout."""

from __future__ import annotations

import socket
import urllib.request

PROBE_TIMEOUT_S = 2.0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


def postgres_ok(port: int) -> bool:
    import psycopg2

    try:
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
        ).close()
    except psycopg2.Error:
        return False
    return True


def redis_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def code_server_ok(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient

    try:
        DagsterGrpcClient(port=port, host="127.0.0.1").get_server_id(timeout=int(PROBE_TIMEOUT_S))
    except Exception:  # DagsterUserCodeUnreachableError and gRPC's own errors alike
        return False
    return True


def celery_worker_ok(broker_url: str, backend_url: str, node_name: str) -> bool:
    from celery import Celery

    app = Celery("probe", broker=broker_url, backend=backend_url)
    try:
        return bool(app.control.ping(destination=[node_name], timeout=PROBE_TIMEOUT_S))
    except Exception:  # the broker itself is down
        return False
    finally:
        app.close()
