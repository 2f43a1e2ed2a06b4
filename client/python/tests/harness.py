"""The Python tests' harness: a real fairpayd on a free port, its own database.

The same steps as tests/integration/harness.c, in the environment that
scripts/run-tests.sh gives every test (FP_BUILD, FP_ROOT, FP_TMP, FP_CERTS,
FP_PGHOST, FP_PGPORT): make a database, migrate it with `fairpayctl db
migrate`, bootstrap an admin key, start fairpayd logged in as the role
`fairpayd`, and wait until it answers Ping over TLS. Every server's pid goes
into $FP_TMP/pids so that the runner reaps whatever a test leaves behind.
"""

from __future__ import annotations

import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the fairpay package

import fairpay  # noqa: E402

# The role every fairpayd logs in as (scripts/pg.sh server-login).
SERVER_LOGIN = "fairpayd"
START_TIMEOUT = 30.0


def env(name: str) -> str:
    """Return a required variable of the runner's environment."""
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the tests with scripts/run-tests.sh")
    return value


def cert(name: str) -> str:
    """Return the path of a test certificate file (scripts/gencerts.sh)."""
    return os.path.join(env("FP_CERTS"), name)


def ctl(*args: str) -> str:
    """Run fairpayctl; return its output, raising on a non-zero exit."""
    out = subprocess.run(
        [os.path.join(env("FP_BUILD"), "fairpayctl"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"fairpayctl {' '.join(args)} exited {out.returncode}: {out.stderr}{out.stdout}")
    return out.stdout


def db_create(name: str) -> str:
    """Drop and create database ``name``; return the owner's conninfo."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"database name {name!r}: use [a-z0-9_]")
    base = f"host={env('FP_PGHOST')} port={env('FP_PGPORT')} user=postgres"
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", base + " dbname=postgres", "-c", sql],
            check=True,
            capture_output=True,
            timeout=60,
        )
    conninfo = f"{base} dbname={name}"
    ctl("db", "migrate", "--db", conninfo)
    return conninfo


def sql(conninfo: str, query: str) -> str:
    """Run one query; return its first value as text ('' when no row)."""
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", query],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


def bootstrap_admin(conninfo: str) -> str:
    """Create an ADMIN key with fairpayctl; return it."""
    key = ctl("db", "bootstrap-admin", "--db", conninfo).strip().splitlines()[-1]
    if not key.startswith("fp_"):
        raise RuntimeError(f"bootstrap-admin printed no key: {key!r}")
    return key


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One fairpayd process of a test."""

    def __init__(self, conninfo: str, *extra: str, port: Optional[int] = None) -> None:
        self.conninfo = conninfo
        self.extra: List[str] = list(extra)
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(env("FP_TMP"), f"fairpayd-python-{self.port}.log")
        self.start()

    def start(self) -> None:
        """Start the process (again, on the same port) and wait for Ping."""
        args = [
            os.path.join(env("FP_BUILD"), "fairpayd"),
            "--listen",
            self.address,
            "--db",
            f"{self.conninfo} user={SERVER_LOGIN}",
            "--cert",
            cert("server.pem"),
            "--key",
            cert("server.key"),
            "--workers",
            "1",
            *self.extra,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        pids = os.path.join(env("FP_TMP"), "pids")
        os.makedirs(pids, exist_ok=True)
        with open(os.path.join(pids, f"{self.proc.pid}.pid"), "w") as f:
            f.write(f"{self.proc.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fairpayd exited {self.proc.returncode} at start:\n{self.log()}")
            try:
                with fairpay.Client(
                    self.address, ca_file=cert("ca.pem"), connect_timeout=1.0, timeout=2.0, retries=0
                ) as c:
                    c.ping()
                return
            except (fairpay.Error, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fairpayd did not answer Ping:\n{self.log()}") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it; return its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        try:
            os.unlink(os.path.join(env("FP_TMP"), "pids", f"{self.proc.pid}.pid"))
        except FileNotFoundError:
            pass
        return rc

    def log(self) -> str:
        """Return the server's log so far."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def client(self, **kwargs: object) -> fairpay.Client:
        """Return a blocking client of this server (test CA, host 127.0.0.1)."""
        kwargs.setdefault("ca_file", cert("ca.pem"))
        return fairpay.Client(self.address, **kwargs)

    def async_client(self, **kwargs: object) -> fairpay.AsyncClient:
        """Return an AsyncClient of this server, not connected yet."""
        kwargs.setdefault("ca_file", cert("ca.pem"))
        return fairpay.AsyncClient(self.address, **kwargs)


class Proxy:
    """A TCP relay in front of a server that can lose one reply on purpose.

    TLS passes through it untouched (the client still verifies the server).
    After ``lose_next_reply()``, the next bytes the server sends are thrown
    away and both sides of that connection are closed: the request arrived
    and was carried out, its reply never came back.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._lose = threading.Event()
        self.lost = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_reply(self) -> None:
        """Drop the server's next bytes and cut that connection."""
        self._lose.set()

    def close(self) -> None:
        """Stop accepting connections."""
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and self._lose.is_set():
                    self._lose.clear()
                    self.lost += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Receiver:
    """A local HTTP webhook receiver that records every delivery."""

    def __init__(self, status: int = 200) -> None:
        deliveries: List[Tuple[Dict[str, str], bytes]] = []
        self.deliveries = deliveries
        self.cond = threading.Condition()
        cond = self.cond

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with cond:
                    deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    cond.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def wait_for(self, pred: Callable[[Dict[str, str], bytes], bool], timeout: float = 20.0) -> Tuple[Dict[str, str], bytes]:
        """Return the first delivery for which pred holds, waiting for it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for d in self.deliveries:
                    if pred(*d):
                        return d
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no such delivery within {timeout} s ({len(self.deliveries)} came)")
                self.cond.wait(left)

    def close(self) -> None:
        """Stop the receiver."""
        self._httpd.shutdown()
        self._httpd.server_close()
