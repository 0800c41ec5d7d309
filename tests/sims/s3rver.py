#!/usr/bin/env python3
"""tests/sims/s3rver.py — an S3 server for tests: s3rver (npm; scripts/install-deps
puts it in .deps/s3rver) on 127.0.0.1, on an ephemeral port, in a temporary
directory, with the buckets asked for, behind tests/sims/sigv4_proxy.py (which
checks signatures and adds the multipart calls s3rver lacks).

As a library:

    with S3rver(buckets=["models"]) as s3:
        s3.endpoint         # "http://127.0.0.1:PORT", what clients talk to
        s3.access_key, s3.secret_key   # "S3RVER", "S3RVER"
        s3.directory        # s3rver's data directory (bucket/key files)

The server is up and answering when the `with` body starts, and stopped (its
directory removed) when it ends, however it ends. s3rver dies with the
process that started it (PR_SET_PDEATHSIG), so a killed test leaves nothing
running.

As a program (for tests in other languages):

    python3 tests/sims/s3rver.py --bucket models [--bucket other] [--no-verify-signatures]

prints one JSON line {"endpoint", "access_key", "secret_key", "directory"}
once the server answers, then serves until SIGTERM, SIGINT, or the death of
its parent. If s3rver cannot be started it prints why on stderr (saying to
run scripts/install-deps when s3rver is missing) and exits with status 2.
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4_proxy  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ACCESS_KEY = "S3RVER"  # s3rver's built-in account
SECRET_KEY = "S3RVER"
PR_SET_PDEATHSIG = 1
LISTENING = re.compile(r"S3rver listening on [^:]+:(\d+)")


class S3rverError(RuntimeError):
    pass


def find_s3rver():
    """The s3rver executable: $S3RVER_BIN, .deps/s3rver, else s3rver on PATH."""
    candidates = [os.environ.get("S3RVER_BIN"),
                  os.path.join(REPO, ".deps", "s3rver", "node_modules", ".bin", "s3rver"),
                  shutil.which("s3rver")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise S3rverError("s3rver is not installed: run scripts/install-deps "
                      "(it installs s3rver into .deps/s3rver with npm).")


def die_with_parent():
    """Asks the kernel to SIGKILL this process when its parent dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class S3rver:
    def __init__(self, buckets=(), verify_signatures=True, start_timeout=30.0):
        self.buckets = list(buckets)
        self.verify_signatures = verify_signatures
        self.start_timeout = start_timeout
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.directory = None
        self.endpoint = None
        self._tempdir = None
        self._log = None
        self._process = None
        self._proxy = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        executable = find_s3rver()
        self._tempdir = tempfile.mkdtemp(prefix="modelfs-s3rver-")
        self.directory = os.path.join(self._tempdir, "data")
        os.mkdir(self.directory)
        argv = [executable, "--directory", self.directory, "--address", "127.0.0.1",
                "--port", "0", "--silent"]
        for bucket in self.buckets:
            argv += ["--configure-bucket", bucket]
        self._log = os.path.join(self._tempdir, "s3rver.log")
        try:
            with open(self._log, "w") as log:
                self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.PIPE, stderr=log, text=True,
                                                 preexec_fn=die_with_parent)
        except OSError as e:
            raise S3rverError(f"cannot run {executable}: {e}; run scripts/install-deps.") from e
        port = self._read_port()
        self._proxy = sigv4_proxy.Proxy(port, self.directory, {ACCESS_KEY: SECRET_KEY},
                                        verify_signatures=self.verify_signatures)
        self._proxy.start()
        self.endpoint = f"http://127.0.0.1:{self._proxy.port}"
        self._wait_until_answering()

    def _read_port(self):
        lines = []
        found = threading.Event()
        port = []

        def read():
            for line in self._process.stdout:
                lines.append(line)
                m = LISTENING.search(line)
                if m and not port:
                    port.append(int(m.group(1)))
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(self.start_timeout) or not port:
            self._process.kill()
            with open(self._log) as log:
                err = log.read()
            raise S3rverError("s3rver did not start within %.0f s (%s); run scripts/install-deps."
                              % (self.start_timeout, (err or "".join(lines)).strip()[-500:]))
        return port[0]

    def _wait_until_answering(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # any HTTP answer will do
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise S3rverError("s3rver at %s does not answer." % self.endpoint)
                time.sleep(0.05)

    def stop(self):
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None


def main():
    parser = argparse.ArgumentParser(description="Runs s3rver for tests; see the module comment.")
    parser.add_argument("--bucket", action="append", default=[], help="a bucket to create")
    parser.add_argument("--no-verify-signatures", action="store_true",
                        help="accept any well-formed signature, as s3rver alone does")
    args = parser.parse_args()
    die_with_parent()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = S3rver(args.bucket, verify_signatures=not args.no_verify_signatures)
        server.start()
    except S3rverError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        print(json.dumps({"endpoint": server.endpoint, "access_key": server.access_key,
                          "secret_key": server.secret_key, "directory": server.directory}),
              flush=True)
        while not stop.wait(1):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
