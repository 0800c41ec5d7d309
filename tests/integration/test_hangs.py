"""No read that waits on the network hangs: hostile servers against the mount and the CLI.

Each class of server a probe found hanging modelfs is here, with MODELFS_READ_TIMEOUT (the bound on
one wait for the network) set short so the tests are quick:
  - a CDN that trickles and stalls (1000 bytes per GET, then silence, again and again);
  - a server that accepts requests and never answers;
  - a Hub process SIGSTOPped in the middle of a read;
  - and a slow server that keeps going, which must not be cut.
Every read that waits on one of the first three fails (EIO through the mount, an `Error:` line in
the CLI) within the bound plus a little; SIGTERM and `modelfs umount` stop the daemon within seconds
during a stalled read, and a reader killed while it waits is freed at once (FUSE interrupt) however
long the bound.  See docs/lazy-pull.md ("Bounded waits").
"""

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

from harness import MiB, REPO, is_mounted, poll, wait_pids_gone
from test_hf_pull import HfPullTestCase

BOUND = 3        # MODELFS_READ_TIMEOUT in these tests, seconds
SLACK = 4        # what a failing wait may take beyond the bound (checks run about once a second)
LONG_BOUND = 60  # for the tests where something other than the bound must end the wait

SIM = os.path.join(REPO, "tests", "sims", "hf_hub_sim.py")


def pread_outcome(path, offset, n=4096):
    """(errno or None, seconds) of one pread of `n` bytes at `offset`."""
    t0 = time.monotonic()
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.pread(fd, n, offset)
        finally:
            os.close(fd)
        err = None
    except OSError as e:
        err = e.errno
    return err, time.monotonic() - t0


class BackgroundRead:
    """pread_outcome on a thread of its own."""

    def __init__(self, path, offset):
        self.outcome = None
        self.thread = threading.Thread(target=self._run, args=(path, offset), daemon=True)
        self.thread.start()

    def _run(self, path, offset):
        self.outcome = pread_outcome(path, offset)

    def wait(self, timeout):
        self.thread.join(timeout)
        return self.outcome


class HangTestCase(HfPullTestCase):

    def setUp(self):
        super().setUp()
        self.env["MODELFS_READ_TIMEOUT"] = str(BOUND)

    def lazy_model(self, repo="hang/model", size=16 * MiB):
        """A pulled model (registered, nothing fetched) of one LFS file; returns its tag."""
        tag, _, want = self.pulled(repo, repo.replace("/", "-"), size)
        self.want = want
        return tag

    def arm(self, kind, **params):
        """A fault forever on every CDN request (and, without server=, on the hub's too)."""
        params.setdefault("server", "cdn")
        return self.sim.add_fault(kind, "*", count=None, **params)

    def wait_hit(self, fid, timeout=10):
        """Waits until fault `fid` fired: a request is stuck at the server."""
        def hit():
            return any(h["id"] == fid for h in self.sim.stats(include_requests=False)["fault_hits"])
        ok, _ = poll(hit, timeout=timeout, interval=0.05)
        self.assertTrue(ok, "no request reached the stalled server")

    def assert_bounded_failure(self, outcome, what, want=(errno.EIO,)):
        self.assertIsNotNone(outcome, "%s still blocked after %ss" % (what, BOUND + SLACK))
        err, seconds = outcome
        self.assertIn(err, want, "%s: expected %s, got %s after %.1fs\nmount.log:\n%s" % (
            what, [errno.errorcode[e] for e in want], err and errno.errorcode.get(err, err),
            seconds, self.mount_log()[-2000:]))
        self.assertLess(seconds, BOUND + SLACK, "%s took %.1fs" % (what, seconds))

    def assert_cli_fails_within_bound(self, *args, contains=None):
        r = self.mf(*args, timeout=BOUND + SLACK + 30)
        self.assert_error(r, contains)
        self.assertLess(r.elapsed, BOUND + SLACK, "`%s` took %.1fs" % (" ".join(args), r.elapsed))


class TrickleAndStallTest(HangTestCase):

    def test_mount_reads_fail_within_the_bound_then_heal(self):
        tag = self.lazy_model()
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.arm("stall", after_bytes=1000, method="GET")
        # Two openers at once, one waiting for the other's fetch, and a third elsewhere.
        reads = [BackgroundRead(path, 0), BackgroundRead(path, 100), BackgroundRead(path, 8 * MiB)]
        for i, r in enumerate(reads):
            self.assert_bounded_failure(r.wait(BOUND + SLACK), "pread %d through the mount" % i)
        self.sim.clear_faults()
        # For a second after a fetch failed slowly, its segments fail at once (the kernel asks
        # again right after a failed readahead); then they are fetched again.
        ok, _ = poll(lambda: pread_outcome(path, 0)[0] is None, timeout=5, interval=0.2)
        self.assertTrue(ok, "reads still fail after the CDN healed")
        self.assert_reads(path, self.want, "after the CDN healed")

    def test_the_mount_option_sets_the_bound(self):
        tag = self.lazy_model()
        self.env["MODELFS_READ_TIMEOUT"] = str(LONG_BOUND)  # the option wins
        mp = self.mountpoint()
        self.fails("mount", mp, "-o", "read_timeout=0", contains="read_timeout=0")
        self.fails("mount", mp, "-o", "read_timeout=soon", contains="read_timeout=soon")
        self.add_mount_cleanup(mp)
        self.ok("mount", mp, "-o", "read_timeout=%d" % BOUND, timeout=30)
        self.arm("stall", after_bytes=1000, method="GET")
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.assert_bounded_failure(BackgroundRead(path, 0).wait(BOUND + SLACK),
                                    "pread through the mount")

    def test_cli_fails_within_the_bound(self):
        tag = self.lazy_model()
        self.arm("stall", after_bytes=1000, method="GET")
        self.assert_cli_fails_within_bound("models", "cat", tag, "model.safetensors",
                                           contains="timed out")
        self.assert_cli_fails_within_bound("models", "pull", "hf://hang/model", "--prefetch",
                                           contains=["stalls or trickles", "timed out"])


class NeverAnsweringServerTest(HangTestCase):

    def test_mount_and_cli_fail_within_the_bound(self):
        tag = self.lazy_model()
        self.arm("stall", server="any")  # hub and CDN accept every request and never answer
        self.assert_cli_fails_within_bound("models", "cat", tag, "model.safetensors",
                                           contains="timed out")
        self.assert_cli_fails_within_bound("models", "export", tag, self.path("out.tar"),
                                           contains="timed out")
        self.assert_cli_fails_within_bound("models", "pull", "hf://hang/model", "--prefetch")
        self.assert_cli_fails_within_bound("models", "pull", "hf://hang/other",
                                           contains="timed out")
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.assert_bounded_failure(BackgroundRead(path, 5 * MiB).wait(BOUND + SLACK),
                                    "pread through the mount")


class SlowServerTest(HangTestCase):

    def test_a_slow_server_that_keeps_going_is_not_cut(self):
        a, a_sha = self.data("a.bin", 6 * MiB)
        b, b_sha = self.data("b.bin", 4 * MiB)
        self.sim.add_repo("slow/model", {"a.bin": a, "b.bin": b})
        tag, _ = self.pull("hf://slow/model")
        self.arm("slow", rate=1 * MiB)  # every CDN request at 1 MiB/s: far above the minimum rate
        mp = self.mount_hf()
        self.assert_reads(os.path.join(self.mdir(mp, tag), "a.bin"), a_sha, "slow CDN")
        self.umount(mp)
        # One request of 4 MiB at 1 MiB/s: longer than the bound, and not cut.
        r = self.mf("models", "pull", "hf://slow/model", "--prefetch", timeout=120)
        self.assertEqual(0, r.rc, r.describe())
        self.assertGreater(r.elapsed, BOUND)
        self.assertEqual(b_sha, self.cat_sha256(tag, "b.bin")[1])


class StoppedHubTest(HangTestCase):
    """The Hub simulator runs as a process of its own here, so that it can be SIGSTOPped."""

    def start_sim_process(self, repo, files):
        repos = self.path("repos")
        for rel, src in files.items():
            dst = os.path.join(repos, repo, "main", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.link(src, dst)
        port_file = self.path("sim.json")
        faults = json.dumps([{"kind": "slow", "rate": 256 * 1024, "count": None, "server": "cdn"}])
        proc = subprocess.Popen([sys.executable, SIM, "--repos-dir", repos, "--port", "0",
                                 "--port-file", port_file, "--faults", faults],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

        def stop():
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        ok, _ = poll(lambda: os.path.exists(port_file), timeout=20, interval=0.05)
        self.assertTrue(ok, "the simulator did not start")
        with open(port_file) as f:
            return proc, json.load(f)["endpoint"]

    def test_a_read_fails_within_the_bound_of_the_stop(self):
        src, _ = self.data("model.bin", 8 * MiB)
        proc, endpoint = self.start_sim_process("stop/model", {"model.safetensors": src})
        self.env["HF_ENDPOINT"] = endpoint
        tag, _ = self.pull("hf://stop/model")
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        box = {}
        reader = threading.Thread(target=lambda: box.update(result=self._read_all(path)),
                                  daemon=True)
        reader.start()
        def fetched_some():  # mid-read: 8 MiB at 256 KiB/s per request take seconds
            names = [n for n in self.staging_files() if n.startswith("4c")]
            return bool(names) and os.stat(os.path.join(self.staging_dir(), names[0])).st_blocks > 0
        ok, _ = poll(fetched_some, timeout=10)
        self.assertTrue(ok, "the read did not start")
        proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        reader.join(BOUND + SLACK)
        self.assertFalse(reader.is_alive(), "the read was still blocked %ss after the Hub stopped"
                         % (BOUND + SLACK))
        digest, err, n = box["result"]
        self.assertEqual(errno.EIO, err, "expected EIO, got %s after %d bytes" % (err, n))
        self.assertLess(time.monotonic() - stopped, BOUND + SLACK)


class StopDuringStalledReadTest(HangTestCase):
    """The bound is long here: what ends the stalled read must be the signal, unmount or kill."""

    def setUp(self):
        super().setUp()
        self.env["MODELFS_READ_TIMEOUT"] = str(LONG_BOUND)

    def stalled_read(self):
        tag = self.lazy_model()
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        fid = self.arm("stall", after_bytes=1000, method="GET")
        read = BackgroundRead(path, 0)
        self.wait_hit(fid)
        return mp, path, read

    def test_sigterm_stops_the_daemon_within_seconds(self):
        mp, _, read = self.stalled_read()
        pid = self.daemon_pid()
        os.kill(pid, signal.SIGTERM)
        t0 = time.monotonic()
        self.assertEqual([], wait_pids_gone([pid], 5), "the daemon ignored SIGTERM for 5 s")
        self.assertLess(time.monotonic() - t0, 5)
        self.assert_bounded_failure(read.wait(5), "the stalled read",
                                    want=(errno.EIO, errno.ENOTCONN, errno.ECONNABORTED))
        self.assertFalse(is_mounted(mp))

    def test_modelfs_umount_works_during_a_stalled_read(self):
        mp, _, read = self.stalled_read()
        pid = self.daemon_pid()
        r = self.mf("umount", mp, timeout=30)
        self.assertEqual(0, r.rc, r.describe())
        self.assertLess(r.elapsed, 10, "umount took %.1fs" % r.elapsed)
        self.assertFalse(is_mounted(mp))
        self.assertEqual([], wait_pids_gone([pid], 5), "the daemon outlived umount")
        self.assert_bounded_failure(read.wait(5), "the stalled read", want=(errno.EIO,))

    def test_a_killed_reader_is_freed_at_once(self):
        # A direct read is one request the reader waits for: without an answer to the kernel's
        # interrupt, SIGKILL would leave it unkillable (D state) until the read ends.
        tag = self.lazy_model()
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        fid = self.arm("stall", after_bytes=1000, method="GET")
        script = ("import mmap, os, sys\n"
                  "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)\n"
                  "os.preadv(fd, [mmap.mmap(-1, 1 << 20)], 4 << 20)\n")
        reader = subprocess.Popen([sys.executable, "-c", script, path])
        self.addCleanup(lambda: reader.poll() is None and reader.kill())
        self.wait_hit(fid)  # polled: the stalled GET for this read has reached the server
        self.assertIsNone(reader.poll(), "the direct read ended early: rc %s" % reader.returncode)
        reader.kill()
        t0 = time.monotonic()
        try:
            reader.wait(5)
        except subprocess.TimeoutExpired:
            self.fail("the killed reader was still there after 5 s (unkillable in D state)")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("interrupted", self.mount_log())


if __name__ == "__main__":
    unittest.main()
