"""Shared by the Python end-to-end tests: a child process whose output is
read by threads, line by line, so a test can wait for a line."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time


class Proc:
    """A child process whose stdout and stderr are read by threads, line by line."""

    def __init__(self, argv):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace")
        self.lines = []
        self.cond = threading.Condition()
        for stream in (self.p.stdout, self.p.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pattern, timeout=15):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.2))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()

    def tail(self, n=25):
        with self.cond:
            return self.lines[-n:]


class Store:
    """The store a Python end-to-end test runs on: a SQLite file in tmp, or,
    with WEBHOOKD_TEST_BACKEND=postgres, a fresh database on the server
    WEBHOOKD_TEST_PG_URL names or on one this process starts
    (tests/support/pg_server.sh). close() stops a server it started."""

    def __init__(self, tmp):
        self.server_dir = None
        if os.environ.get("WEBHOOKD_TEST_BACKEND") != "postgres":
            self.locator = os.path.join(tmp, "webhooks.db")
            return
        script = os.path.join(os.environ.get("WEBHOOKD_SOURCE_ROOT", "."), "tests", "support", "pg_server.sh")
        self.script = script
        admin = os.environ.get("WEBHOOKD_TEST_PG_URL")
        if not admin:
            self.server_dir = tempfile.mkdtemp(prefix="webhookd-pg-", dir="/tmp")
            os.chmod(self.server_dir, 0o755)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            admin = subprocess.run(["/bin/sh", script, "start", self.server_dir, str(port)], check=True,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1]
        name = "wt_py_%d" % os.getpid()
        subprocess.run(["psql", "-q", admin, "-c", "DROP DATABASE IF EXISTS " + name, "-c", "CREATE DATABASE " + name],
                       check=True, capture_output=True, text=True)
        self.locator = admin.rsplit("/", 1)[0] + "/" + name

    def close(self):
        if self.server_dir:
            subprocess.run(["/bin/sh", self.script, "stop", self.server_dir], capture_output=True)
            shutil.rmtree(self.server_dir, ignore_errors=True)
