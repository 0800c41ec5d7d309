"""`modelfs models pull hf://...`: lazy pull from the Hugging Face Hub, against the Hub simulator.

Every test starts its own HubSim (tests/sims/hf_hub_sim.py) on 127.0.0.1 with ephemeral ports,
points HF_ENDPOINT at it (for the CLI and for the mount daemon, which fetches with the environment
it was started with) and stops it at cleanup, after the mounts it made are unmounted (cleanups run
last-registered first).  Byte counts come from the simulator's counters: CDN bytes are what LFS
files cost, hub bytes what small (non-LFS) files cost.

Reads marked "through the mount" go through a real FUSE mount; each is run in a helper thread with
a deadline, so that a hung daemon becomes a failure (and the harness's watchdog aborts the mount).
Needs /dev/fuse (root in the test container).
"""

import errno
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import unittest

from harness import (BIN, KiB, MiB, REPO, ModelfsTestCase, daemon_pids, is_mounted, poll,
                     wait_pids_gone, write_random)

sys.path.insert(0, os.path.join(REPO, "tests", "sims"))
from hf_hub_sim import HubSim, git_blob_sha1  # noqa: E402

needs_fuse = unittest.skipUnless(os.path.exists("/dev/fuse"), "no /dev/fuse")

REGISTERED_RE = re.compile(
    r'^Model\(tag="([^"]+)"\) registered \((\d+) files?, ([^,]+), ([^)]+) fetched\)\.\s*$', re.M)
ALREADY_RE = re.compile(
    r'^Model\(tag="([^"]+)"\) is already registered at commit ([0-9a-f]{40}); nothing to do\.\s*$',
    re.M)
FETCHED_RE = re.compile(r'^Model\(tag="([^"]+)"\) fetched \(([^)]+)\)\.\s*$', re.M)

# Environment variables that would change which hub, which token or which mode the CLI uses.
HF_VARS = ("HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
           "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME")

READ_TIMEOUT = 60  # seconds for one read through the mount (the mount watchdog is 90 s)
DEAD = (errno.ENOTCONN, errno.ECONNABORTED)


def human_is_zero(s):
    """True for "0 B", "0 bytes", "0.00 MiB" ... as printed for the fetched amount."""
    m = re.match(r"\s*([0-9.]+)", s)
    return bool(m) and float(m.group(1)) == 0.0


def safetensors_like(path, size):
    """A file shaped like a safetensors file: 8-byte little-endian header length, a JSON header,
    then `size` bytes in all of random tensor data.  Returns (sha256, header bytes)."""
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, 0]}})
    header = header.encode() + b" " * (-len(header) % 8)
    head = struct.pack("<Q", len(header)) + header
    h = hashlib.sha256(head)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(head)
        left = size - len(head)
        while left > 0:
            b = os.urandom(min(8 * MiB, left))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest(), head


@needs_fuse
class HfPullTestCase(ModelfsTestCase):
    """A store, a Hub simulator and helpers to pull, mount and read."""

    def setUp(self):
        super().setUp()
        self.sim = HubSim(host="127.0.0.1", port=0, cdn_port=0)
        self.sim.start()
        # Registered after the harness's own cleanups and before any mount's: runs after every
        # unmount of the test, and even when the test (or the rest of setUp) fails.
        self.addCleanup(self.sim.stop)
        for k in HF_VARS:
            self.env.pop(k, None)
        self.env["HF_ENDPOINT"] = self.sim.endpoint

    # data --------------------------------------------------------------------------------------
    def data(self, name, size):
        """A random file under the test's directory; returns (path, sha256)."""
        p = self.path("data", name)
        return p, write_random(p, size)

    def pulled(self, repo, name, size, rel="model.safetensors"):
        """Repo `repo` holding one random file `rel` (data file `name`, `size` bytes), pulled;
        returns (tag, data path, sha256)."""
        src, want = self.data(name, size)
        self.sim.add_repo(repo, {rel: src})
        tag, _ = self.pull("hf://" + repo)
        return tag, src, want

    # CLI ---------------------------------------------------------------------------------------
    def pull(self, source, *args, env_extra=None):
        """`models pull` that must succeed with a "registered" line; returns (tag, match)."""
        r = self.mf("models", "pull", source, *args, env_extra=env_extra, timeout=120)
        if r.rc != 0:
            self.fail("pull failed:\n%s\nmount.log:\n%s" % (r.describe(), self.mount_log()[-2000:]))
        m = REGISTERED_RE.search(r.text)
        self.assertIsNotNone(m, 'expected `Model(tag="...") registered (N files, SIZE, X fetched).`'
                             ':\n' + r.describe())
        return m.group(1), m

    def pull_fails(self, source, *args, contains=None, env_extra=None):
        r = self.mf("models", "pull", source, *args, env_extra=env_extra, timeout=120)
        self.assert_error(r, contains)
        return r

    def remote_entry(self, tag):
        for e in self.stats()["remote_models"]:
            if e["tag"] == tag:
                return e
        self.fail("cache stats lists no remote model %s: %r" % (tag, self.stats()["remote_models"]))

    # mount -------------------------------------------------------------------------------------
    def mount_hf(self, mp=None, env_extra=None):
        """`modelfs mount MP` with the test's environment (HF_ENDPOINT ...) plus env_extra."""
        mp = mp or self.mountpoint()
        self.add_mount_cleanup(mp)
        r = self.mf("mount", mp, env_extra=env_extra, timeout=30)
        if r.rc != 0:
            self.fail("mount failed:\n%s\nmount.log:\n%s" % (r.describe(),
                                                             self.mount_log()[-3000:]))
        self.assertTrue(is_mounted(mp), "%s not mounted after `modelfs mount`" % mp)
        return mp

    def umount(self, mp):
        self.ok("umount", mp, timeout=60)
        self.assertFalse(is_mounted(mp))
        self.assertEqual([], wait_pids_gone(daemon_pids(self.home), 15), "daemon still running")

    def mdir(self, mp, tag):
        name, _, version = tag.partition(":")
        return os.path.join(mp, "models", name, version)

    def in_thread(self, fn, *args, timeout=READ_TIMEOUT):
        """fn(*args) in a helper thread; fails the test if it has not returned by `timeout`."""
        box = {}

        def run():
            try:
                box["value"] = fn(*args)
            except BaseException as e:  # noqa: B902 - handed to the test thread
                box["error"] = e

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self.fail("%s%r did not return within %ss (hung read?)\nmount.log:\n%s" % (
                getattr(fn, "__name__", fn), args, timeout, self.mount_log()[-2000:]))
        if "error" in box:
            raise box["error"]
        return box["value"]

    @staticmethod
    def _read_all(path, block=1 * MiB):
        """(sha256 or None, errno or None, bytes read)."""
        h = hashlib.sha256()
        n = 0
        try:
            with open(path, "rb", buffering=0) as f:
                while True:
                    b = f.read(block)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
        except OSError as e:
            return None, e.errno, n
        return h.hexdigest(), None, n

    def read_all(self, path, timeout=READ_TIMEOUT):
        return self.in_thread(self._read_all, path, timeout=timeout)

    def assert_reads(self, path, want_sha, what=""):
        digest, err, n = self.read_all(path)
        self.assertIsNone(err, "%s: reading %s failed with %s after %d bytes\nmount.log:\n%s" % (
            what, path, err and errno.errorcode.get(err, err), n, self.mount_log()[-2000:]))
        self.assertEqual(want_sha, digest, "%s: sha256 of %s through the mount" % (what, path))

    @staticmethod
    def _pread(path, offset, n):
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.pread(fd, n, offset)
        finally:
            os.close(fd)

    def pread(self, path, offset, n):
        return self.in_thread(self._pread, path, offset, n)

    # simulator ---------------------------------------------------------------------------------
    def cdn(self, repo=None, path=None):
        return self.sim.bytes_sent(repo, path, "cdn")

    def hub(self, repo=None, path=None):
        return self.sim.bytes_sent(repo, path, "hub")

    def settle(self, fn, quiet=0.5, timeout=10):
        """Polls fn() until its value stays the same for `quiet` seconds; returns it."""
        last = fn()
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            v = fn()
            if v != last:
                last, since = v, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    # store -------------------------------------------------------------------------------------
    def staging_dir(self):
        return os.path.join(self.home, "staging")

    def staging_files(self):
        d = self.staging_dir()
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def staging_name(self, repo, path, revision="main"):
        """<home>/staging/<hex of the remote id>: 'L' + sha256 (LFS) or 'G' + git sha1."""
        info = self.sim.file_info(repo, path, revision)
        if info["lfs"]:
            return "4c" + info["sha256"]
        return "47" + info["git_sha1"]

    def wait_stored(self, repo, path, revision="main", timeout=30):
        """Waits until the fully read content of repo/path is ingested (its staging file gone and
        the chunk store holds at least its size)."""
        name = self.staging_name(repo, path, revision)
        size = self.sim.file_info(repo, path, revision)["size"]

        def stored():
            if name in self.staging_files():
                return False
            return self.stats()["unique_bytes"] >= size

        ok, waited = poll(stored, timeout=timeout, interval=0.2)
        self.assertTrue(ok, "%s/%s not stored after %ss (staging: %r)\nmount.log:\n%s" % (
            repo, path, timeout, self.staging_files(), self.mount_log()[-2000:]))


# ------------------------------------------------------------------------------------------------
class RegistrationTest(HfPullTestCase):

    def test_pull_registers_without_fetching_and_mount_shows_sizes(self):
        repo = "Org/Reg-Model"
        files = {"config.json": b'{"architectures": ["Toy"], "hidden_size": 8}\n',
                 "tokenizer/tokenizer.json": b'{"version": "1.0", "model": {}}\n',
                 "model.safetensors": self.data("reg.safetensors", 3 * MiB + 5)[0],
                 "sub/dir/weights.bin": b"\x07" * 5000}
        for i in range(96):
            files["many/f%03d.txt" % i] = b"file %d\n" % i * (i + 1)
        self.sim.add_repo(repo, files)
        sizes = {p: self.sim.file_info(repo, p)["size"] for p in files}
        total = sum(sizes.values())
        commit = self.sim.commit(repo)

        tag, m = self.pull("hf://" + repo)
        self.assertEqual("org--reg-model:" + commit[:16], tag, "default name and version")
        self.assertEqual("100", m.group(2), "file count in:\n" + m.group(0))
        self.assertTrue(human_is_zero(m.group(4)), "nothing was fetched yet: " + m.group(0))

        # Registration moved no file bytes (HEAD requests have no body).
        st = self.sim.stats(include_requests=False)
        self.assertEqual(0, st["cdn"]["bytes"], "CDN bytes sent during registration")
        for p in files:
            c = st["files"].get("%s/%s" % (repo, p), {})
            self.assertEqual(0, c.get("hub_bytes", 0), "hub bytes of %s during registration" % p)
            self.assertEqual(0, c.get("cdn_bytes", 0), "CDN bytes of %s during registration" % p)

        self.assertEqual([tag], self.tags())
        meta = self.get_json(tag)["metadata"]
        self.assertEqual({"hf_repo": repo, "hf_revision": "main", "hf_commit": commit,
                          "hf_endpoint": self.sim.endpoint},
                         {k: meta.get(k) for k in ("hf_repo", "hf_revision", "hf_commit",
                                                   "hf_endpoint")})
        listed = self.files(tag)
        self.assertEqual(sorted(files), sorted(p for p, e in listed.items() if e["type"] == "file"))
        for p, size in sizes.items():
            self.assertEqual(size, listed[p]["size"], "size of %s in models files" % p)

        stats = self.stats()
        self.assertEqual(total, stats["remote_registered_bytes"])
        self.assertEqual(0, stats["remote_fetched_bytes"])
        self.assertIsNone(stats["fetch_limit_bytes"])
        self.assertEqual(0, stats["remote_digest_mismatches"])
        self.assertEqual([{"tag": tag, "registered_bytes": total, "fetched_bytes": 0,
                           "strict": False}], stats["remote_models"])

        # Through the mount: the tree and real sizes, before anything is fetched.
        mp = self.mount_hf()
        vd = self.mdir(mp, tag)
        self.assertEqual(sorted(["config.json", "tokenizer", "model.safetensors", "sub", "many",
                                 "model.yaml"]), sorted(os.listdir(vd)))
        for p, size in sizes.items():
            self.assertEqual(size, os.stat(os.path.join(vd, p)).st_size, "st_size of %s" % p)
        r = subprocess.run(["ls", "-lR", vd], capture_output=True, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stderr)
        line = [ln for ln in r.stdout.splitlines() if ln.endswith(" model.safetensors")]
        self.assertEqual(1, len(line), r.stdout[:2000])
        self.assertIn(" %d " % sizes["model.safetensors"], line[0], "ls -l size")
        with open(os.path.join(vd, "model.yaml")) as f:
            self.assertIn(commit, f.read(), "model.yaml through the mount names the commit")
        self.assertEqual(0, self.cdn(), "stat/readdir through the mount fetched CDN bytes")
        for p in files:
            self.assertEqual(0, self.hub(repo, p), "stat/readdir fetched hub bytes of %s" % p)
        self.assertEqual([], self.staging_files(), "stat and readdir staged nothing")

    def test_prefetch_fetches_everything(self):
        repo = "org/prefetch"
        big, big_sha = self.data("pf.safetensors", 3 * MiB)
        cfg = b'{"a": 1}\n'
        self.sim.add_repo(repo, {"model.safetensors": big, "config.json": cfg})
        r = self.ok("models", "pull", "hf://" + repo, "--prefetch", timeout=120)
        m = REGISTERED_RE.search(r.text)
        self.assertIsNotNone(m, r.describe())
        tag = m.group(1)
        f = FETCHED_RE.search(r.text)
        self.assertIsNotNone(f, "expected `Model(...) fetched (SIZE).`:\n" + r.describe())
        self.assertEqual(tag, f.group(1))
        self.assertNotIn("\r", r.err, "no progress bar when stderr is not a terminal:\n"
                         + r.describe())
        self.assertEqual(3 * MiB, self.cdn(repo, "model.safetensors"))
        self.assertEqual(len(cfg), self.hub(repo, "config.json"))
        stats = self.stats()
        self.assertEqual(3 * MiB + len(cfg), stats["remote_fetched_bytes"])
        self.assertEqual([], self.staging_files(), "prefetched contents are stored, not staged")
        # Served from the store now: no network at all.
        self.sim.reset()
        rc, digest, n, err = self.cat_sha256(tag, "model.safetensors")
        self.assertEqual((0, big_sha), (rc, digest), err)
        self.assertEqual(cfg, self.cat(tag, "config.json"))
        self.assertEqual(0, self.sim.bytes_sent(), "reads after --prefetch used the network")

    def prefetch(self, repo):
        return self.mf("models", "pull", "hf://" + repo, "--prefetch", timeout=120)

    def test_prefetch_gets_past_faults_and_refuses_wrong_bytes(self):
        # A prefetch streams each file in one request straight into chunks: a broken or failed
        # request is retried or resumed, and bytes that do not match the digest are not kept.
        for kind, params in (("reset", {"after_bytes": 3 * MiB}), ("truncate", {"after_bytes": 5 * MiB}),
                             ("status", {"status": 500}), ("drop", {})):
            with self.subTest(fault=kind):
                repo = "org/pf-" + kind
                tag, src, want = self.pulled(repo, kind + ".safetensors", 12 * MiB)
                fid = self.sim.add_fault(kind, "model.safetensors", repo=repo, server="cdn",
                                         method="GET", count=1, **params)
                r = self.prefetch(repo)
                self.assertEqual(0, r.rc, r.describe())
                hits = [h for h in self.sim.stats(include_requests=False)["fault_hits"] if h["id"] == fid]
                self.assertTrue(hits, "fault %s never fired" % kind)
                self.sim.clear_faults()
                rc, digest, n, err = self.cat_sha256(tag, "model.safetensors")
                self.assertEqual((0, want), (rc, digest), err)
                self.assertEqual([], self.staging_files())

        # An LFS file (checked by sha256, from the CDN) and a small one (git sha1, from the hub).
        # (The hub's fault only on its file download: `models pull` lists the repo again.)
        for rel, size, server, where in (("model.safetensors", 12 * MiB, "cdn", "model.safetensors"),
                                         ("config.json", 3000, "hub", "*/resolve/*")):
            with self.subTest(corrupt=rel):
                repo = "org/pf-corrupt-" + rel.split(".")[1]
                tag, src, want = self.pulled(repo, "corrupt-" + rel, size, rel=rel)
                before = self.stats()["unique_bytes"]
                self.sim.add_fault("corrupt", where, repo=repo, server=server, method="GET",
                                   count=None, offset=size * 2 // 3)
                r = self.prefetch(repo)
                self.assert_error(r, ["do not match"])
                st = self.stats()
                self.assertEqual(before, st["unique_bytes"], "wrong bytes were stored: %r" % st)
                self.assertEqual(0, self.remote_entry(tag)["fetched_bytes"])
                self.assertEqual([], self.staging_files(), "a failed prefetch leaves no staging file")
                self.sim.clear_faults()
                r = self.prefetch(repo)
                self.assertEqual(0, r.rc, r.describe())
                self.assertEqual(size, self.remote_entry(tag)["fetched_bytes"])
                rc, digest, n, err = self.cat_sha256(tag, rel)
                self.assertEqual((0, want), (rc, digest), err)
        self.assert_verify_ok()

    def test_prefetch_resumes_a_partial_fetch(self):
        # A content partly staged by lazy reads is finished through its staging file, so the
        # bytes already fetched are not fetched again.
        repo = "org/pf-partial"
        size = 12 * MiB
        tag, src, want = self.pulled(repo, "partial.safetensors", size)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.assertEqual(1 * MiB, len(self.pread(path, 2 * MiB, 1 * MiB)))
        first = self.settle(lambda: self.cdn())
        self.umount(mp)
        self.assertTrue(self.staging_files(), "the partial fetch is staged")
        self.assertLess(first, size)
        r = self.prefetch(repo)
        self.assertEqual(0, r.rc, r.describe())
        self.assertLessEqual(self.cdn(), size + 1 * MiB, "a prefetch fetched the staged bytes again")
        self.assertEqual([], self.staging_files())
        rc, digest, n, err = self.cat_sha256(tag, "model.safetensors")
        self.assertEqual((0, want), (rc, digest), err)


# ------------------------------------------------------------------------------------------------
class LazyReadTest(HfPullTestCase):

    def test_header_then_random_pread_then_full_read(self):
        repo = "org/lazy"
        size = 64 * MiB
        src = self.path("data", "lazy.safetensors")
        want_sha, head = safetensors_like(src, size)
        self.sim.add_repo(repo, {"model.safetensors": src, "config.json": b"{}\n"})
        tag, _ = self.pull("hf://" + repo)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.assertEqual(size, os.stat(path).st_size)

        # The header only.
        got = self.pread(path, 0, 4096)
        with open(src, "rb") as f:
            self.assertEqual(f.read(4096), got, "first 4 KiB through the mount")
        (n,) = struct.unpack("<Q", got[:8])
        self.assertEqual(head[8:8 + n], got[8:8 + n], "safetensors header")
        after_header = self.settle(lambda: self.cdn(repo, "model.safetensors"))
        self.assertGreater(after_header, 0)
        self.assertLessEqual(after_header, 4 * MiB,
                             "reading 4 KiB of a 64 MiB file fetched %d bytes" % after_header)

        # A small read far away: only its segment.
        got = self.pread(path, 48 * MiB, 4096)
        with open(src, "rb") as f:
            f.seek(48 * MiB)
            self.assertEqual(f.read(4096), got, "4 KiB at 48 MiB through the mount")
        after_pread = self.settle(lambda: self.cdn(repo, "model.safetensors"))
        self.assertLessEqual(after_pread - after_header, 2 * MiB,
                             "a 4 KiB pread at 48 MiB fetched %d bytes"
                             % (after_pread - after_header))

        # Everything.
        self.assert_reads(path, want_sha, "full read")
        total = self.settle(lambda: self.cdn(repo, "model.safetensors"))
        self.assertLessEqual(total, 1.1 * size, "CDN bytes for one full read of %d bytes: %d" % (
            size, total))
        self.assertEqual(0, self.cdn(repo, "config.json"))

    def test_concurrent_readers_share_fetches(self):
        repo = "org/concurrent"
        size = 32 * MiB
        tag, src, want = self.pulled(repo, "conc.safetensors", size)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        barrier = threading.Barrier(8)
        results = [None] * 8

        def reader(i):
            barrier.wait(30)
            results[i] = self._read_all(path, block=(256 + 64 * i) * KiB)

        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + READ_TIMEOUT
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in threads), "readers hung")
        for i, (digest, err, n) in enumerate(results):
            self.assertIsNone(err, "reader %d failed after %d bytes: %s" % (i, n, err))
            self.assertEqual(want, digest, "reader %d" % i)
        total = self.settle(lambda: self.cdn())
        self.assertLessEqual(total, 1.05 * size, "8 concurrent readers of a %d-byte file made the "
                             "CDN send %d bytes" % (size, total))

    def test_small_file_checked_by_git_sha1(self):
        repo = "org/small"
        cfg = b'{"architectures": ["Toy"], "hidden_size": 8, "vocab_size": 100}\n'
        gen = b'{"max_new_tokens": 20, "do_sample": false}\n'
        big, _ = self.data("small-big.safetensors", 2 * MiB)
        self.sim.add_repo(repo, {"config.json": cfg, "generation_config.json": gen,
                                 "model.safetensors": big})
        self.assertFalse(self.sim.file_info(repo, "config.json")["lfs"])
        tag, _ = self.pull("hf://" + repo)
        mp = self.mount_hf()
        vd = self.mdir(mp, tag)
        self.assertEqual(len(cfg), os.stat(os.path.join(vd, "config.json")).st_size)
        with open(os.path.join(vd, "config.json"), "rb") as f:
            self.assertEqual(cfg, f.read())
        self.assertEqual(len(cfg), self.hub(repo, "config.json"), "small files come from the hub")
        self.assertEqual(0, self.cdn())
        self.wait_stored(repo, "config.json")

        # Wrong bytes for a small file are caught by its git blob sha1 (no sha256 is listed).
        self.sim.add_fault("corrupt", "generation_config.json", repo=repo, server="hub",
                           method="GET", count=None)
        digest, err, _ = self.read_all(os.path.join(vd, "generation_config.json"))
        self.assertEqual(errno.EIO, err, "a corrupted small file must give EIO, got %s (sha %s)"
                         % (err, digest))
        log = self.mount_log()
        self.assertIn(git_blob_sha1(gen), log, "mount.log names the expected git sha1:\n"
                      + log[-2000:])
        self.sim.clear_faults()
        with open(os.path.join(vd, "generation_config.json"), "rb") as f:
            self.assertEqual(gen, f.read(), "after clearing the fault")


# ------------------------------------------------------------------------------------------------
class FaultTest(HfPullTestCase):

    MODES = [
        ("reset", {"after_bytes": 64 * KiB, "count": 1}),
        ("status", {"status": 500, "count": 2}),
        ("rate_limit", {"retry_after": 1, "count": 1}),
        ("truncate", {"after_bytes": 100000, "count": 1}),
        ("corrupt", {"count": 1}),
        ("slow", {"rate": 2 * MiB, "delay": 0.3, "count": 2}),
        ("drop", {"count": 1}),
        ("ignore_range", {"count": 1}),
    ]

    def test_each_fault_gives_right_bytes_or_eio(self):
        repo = "org/faults"
        files, want = {}, {}
        for kind, _ in self.MODES:
            rel = "f_%s.safetensors" % kind
            files[rel], want[rel] = self.data(rel, 3 * MiB + 4321)
        self.sim.add_repo(repo, files)
        tag, _ = self.pull("hf://" + repo)
        mp = self.mount_hf()
        vd = self.mdir(mp, tag)
        for kind, params in self.MODES:
            rel = "f_%s.safetensors" % kind
            with self.subTest(fault=kind):
                self.sim.clear_faults()
                params = dict(params)
                count = params.pop("count")
                fid = self.sim.add_fault(kind, rel, repo=repo, server="cdn", method="GET",
                                         count=count, **params)
                digest, err, n = self.read_all(os.path.join(vd, rel))
                hits = [h for h in self.sim.stats(include_requests=False)["fault_hits"]
                        if h["id"] == fid]
                self.assertTrue(hits, "fault %s never fired" % kind)
                # A verification failure sticks to the open handle (EIO for every later read
                # of it), so the kernel's re-reads of the pages cannot get wrong bytes.
                if err is not None:
                    self.assertEqual(errno.EIO, err, "fault %s: a failed read must give EIO, got "
                                     "%s" % (kind, errno.errorcode.get(err, err)))
                else:
                    self.assertEqual(want[rel], digest, "fault %s: the read succeeded with WRONG "
                                     "bytes" % kind)
                self.sim.clear_faults()
                self.assert_reads(os.path.join(vd, rel), want[rel], "re-read after %s" % kind)

    def test_corrupt_forever_gives_eio_and_stores_nothing(self):
        repo = "org/corrupt"
        tag, src, want = self.pulled(repo, "bad.safetensors", 3 * MiB)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.sim.add_fault("corrupt", "model.safetensors", repo=repo, server="cdn", method="GET",
                           count=None)
        for attempt in (1, 2):
            digest, err, n = self.read_all(path)
            # Every byte is served before the last segment arrives; the read that completes the
            # file finds the mismatch, and the error sticks to the handle, so read() fails.
            with self.subTest("EIO at completion, read %d" % attempt):
                self.assertEqual(errno.EIO, err, "read %d of an always-corrupted file: expected "
                                 "EIO, got %s after %d bytes (sha256 %s, right one %s)" % (
                                     attempt, errno.errorcode.get(err, err), n, digest, want))
                self.assertNotEqual(want, digest)
        self.assertIn("do not match", self.mount_log(), "mount.log explains the EIO")
        # Without FUSE in between, the same fault gives an error, as it should.
        rc, digest, n, err = self.cat_sha256(tag, "model.safetensors", timeout=60)
        self.assertEqual(1, rc, "models cat of an always-corrupted file must fail: %s" % err)

        def nothing_kept():
            st = self.stats()
            return (st["remote_fetched_bytes"] == 0 and st["unique_bytes"] == 0
                    and self.remote_entry(tag)["fetched_bytes"] == 0)

        ok, _ = poll(nothing_kept, timeout=10, interval=0.2)
        self.assertTrue(ok, "wrong bytes must not count as fetched or stored: %r" % self.stats())

        self.sim.clear_faults()
        self.assert_reads(path, want, "after clearing the fault")
        self.wait_stored(repo, "model.safetensors")
        self.assertEqual(3 * MiB, self.remote_entry(tag)["fetched_bytes"])
        self.assert_verify_ok()


# ------------------------------------------------------------------------------------------------
class PersistenceTest(HfPullTestCase):

    def test_fetched_part_survives_remount(self):
        repo = "org/persist"
        size = 12 * MiB
        tag, src, want = self.pulled(repo, "persist.safetensors", size)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")

        def read_half():
            # 1 MiB blocks of the first half, last one first: random reads, so neither the
            # kernel's nor the daemon's sequential readahead fetches the second half.
            fd = os.open(path, os.O_RDONLY)
            try:
                blocks = {}
                for off in reversed(range(0, size // 2, MiB)):
                    blocks[off] = os.pread(fd, MiB, off)
                return b"".join(blocks[o] for o in sorted(blocks))
            finally:
                os.close(fd)

        half = self.in_thread(read_half)
        with open(src, "rb") as f:
            self.assertEqual(f.read(size // 2), half, "first half through the mount")
        first = self.settle(lambda: self.cdn())
        self.assertGreaterEqual(first, size // 2)
        self.assertLess(first, size, "half a read fetched the whole file")
        self.umount(mp)
        self.assertTrue(self.staging_files(), "the partial fetch is staged")
        self.assertGreaterEqual(self.remote_entry(tag)["fetched_bytes"], size // 2,
                                "cache stats after unmount: %r" % self.stats())

        self.mount_hf(mp)
        self.assert_reads(path, want, "after remount")
        again = self.settle(lambda: self.cdn()) - first
        self.assertLessEqual(first + again, size + 1 * MiB,
                             "after a remount the CDN sent %d bytes more; the %d already fetched "
                             "were fetched again" % (again, first))

    def test_kill_9_mid_read_then_resume(self):
        repo = "org/kill"
        # Readahead runs up to ~12 MiB (the daemon's 8 MiB window plus the
        # kernel's 4 MiB) ahead of the reader, and the reader catches up from
        # the page cache at once: the file must outlast that plus 2.5 s of
        # fetching at 4 x 512 KiB/s, or the read may end before the kill.
        size = 32 * MiB
        tag, src, want = self.pulled(repo, "kill.safetensors", size)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.sim.add_fault("slow", "model.safetensors", repo=repo, server="cdn", count=None,
                           rate=512 * KiB)
        progress = {"n": 0, "err": None}

        def reader():
            try:
                with open(path, "rb", buffering=0) as f:
                    while True:
                        b = f.read(256 * KiB)
                        if not b:
                            break
                        progress["n"] += len(b)
            except OSError as e:
                progress["err"] = e.errno

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        ok, _ = poll(lambda: progress["n"] >= 3 * MiB or progress["err"], timeout=40, interval=0.1)
        self.assertTrue(ok and progress["err"] is None,
                        "slow read made no progress: %r\n%s" % (progress, self.mount_log()[-2000:]))
        self.assertLess(progress["n"], size, "the read finished before the kill; slow it down")
        time.sleep(2.5)  # the daemon checkpoints fetch progress every second
        self.assertTrue(t.is_alive() and progress["n"] < size,
                        "the read finished before the kill; slow it down: %r" % progress)
        pid = self.daemon_pid()
        os.kill(pid, signal.SIGKILL)
        self.assertEqual([], wait_pids_gone([pid], 15))
        t.join(30)
        self.assertFalse(t.is_alive(), "reader still blocked after the daemon died")
        self.assertIn(progress["err"], DEAD + (errno.EIO,),
                      "read after kill -9: %r" % (progress,))
        self.assertTrue(is_mounted(mp), "kill -9 leaves a stale mount behind")
        before = self.cdn()

        self.sim.clear_faults()
        self.mount_hf(mp)  # cleans up the stale mount
        self.assertEqual(1, len([e for e in open("/proc/self/mounts").read().splitlines()
                                 if (" %s " % mp) in e]), "stale mount stacked under the new one")
        self.assert_reads(path, want, "after kill -9 and remount")
        again = self.settle(lambda: self.cdn()) - before
        self.assertLessEqual(again, size - 1 * MiB,
                             "after kill -9 the segments checkpointed before it were fetched again "
                             "(%d bytes after the restart, %d before)" % (again, before))


# ------------------------------------------------------------------------------------------------
class OfflineTest(HfPullTestCase):

    def test_offline_mount_serves_fetched_files_only(self):
        repo = "org/offline"
        a, a_sha = self.data("off-a.safetensors", 3 * MiB)
        b, _ = self.data("off-b.safetensors", 3 * MiB)
        cfg = b'{"offline": true}\n'
        self.sim.add_repo(repo, {"a.safetensors": a, "b.safetensors": b, "config.json": cfg})
        self.sim.add_repo("org/other", {"config.json": b"{}\n"})
        tag, _ = self.pull("hf://" + repo)
        mp = self.mount_hf()
        vd = self.mdir(mp, tag)
        self.assert_reads(os.path.join(vd, "a.safetensors"), a_sha, "online")
        with open(os.path.join(vd, "config.json"), "rb") as f:
            self.assertEqual(cfg, f.read())
        self.wait_stored(repo, "a.safetensors")
        self.wait_stored(repo, "config.json")
        self.umount(mp)

        self.mount_hf(mp, env_extra={"HF_HUB_OFFLINE": "1"})
        self.sim.reset()
        self.assert_reads(os.path.join(vd, "a.safetensors"), a_sha, "offline, fetched before")
        with open(os.path.join(vd, "config.json"), "rb") as f:
            self.assertEqual(cfg, f.read(), "offline, small file fetched before")
        t0 = time.monotonic()
        digest, err, n = self.read_all(os.path.join(vd, "b.safetensors"), timeout=30)
        elapsed = time.monotonic() - t0
        self.assertEqual(errno.EIO, err, "offline read of a never fetched file: %s" % (
            errno.errorcode.get(err, err)))
        self.assertLess(elapsed, 5, "offline failure must be fast, took %.1fs" % elapsed)
        self.assertEqual(0, self.sim.bytes_sent(), "offline mount used the network")
        self.assertEqual([], self.sim.requests(), "offline mount sent requests")
        self.assertIn("offline", self.mount_log().lower())

        # pull while mounted (forwarded) and unmounted, with HF_HUB_OFFLINE=1.
        self.pull_fails("hf://org/other", contains="offline", env_extra={"HF_HUB_OFFLINE": "1"})
        self.umount(mp)
        self.pull_fails("hf://org/other", contains="offline", env_extra={"HF_HUB_OFFLINE": "1"})
        self.assertEqual([tag], self.tags())


# ------------------------------------------------------------------------------------------------
class AuthTest(HfPullTestCase):

    def test_gated_private_and_wrong_token(self):
        good, wrong = "hf_simGoodToken123", "hf_simWrongToken456"
        src, want = self.data("gated.safetensors", 2 * MiB)
        self.sim.add_repo("org/gated", {"model.safetensors": src, "config.json": b"{}\n"},
                          gated="manual")
        self.sim.add_repo("org/private", {"config.json": b'{"p": 1}\n'}, private=True)
        self.sim.add_token(good)

        r = self.pull_fails("hf://org/gated", contains="gated")
        self.assertTrue(any(w in r.err for w in ("HF_TOKEN", "--token", "log in", "login")),
                        "the message says how to authenticate:\n" + r.describe())
        self.assertEqual([], self.tags())

        mp = self.mount_hf()  # the daemon has no token of its own
        # Pulled while mounted, the caller's HF_TOKEN goes to the daemon, which keeps it.
        tag, _ = self.pull("hf://org/gated", env_extra={"HF_TOKEN": good})
        r = self.pull_fails("hf://org/private", contains="not found")
        r = self.pull_fails("hf://org/private", contains=["rejected", "invalid"],
                            env_extra={"HF_TOKEN": wrong})
        self.assertIn("token", r.err.lower())
        self.pull_fails("hf://org/private", "--token", wrong, contains=["rejected", "invalid"])
        self.assertEqual([tag], self.tags(), "failed pulls registered nothing")
        # The failed pulls did not replace the remembered token.
        self.assert_reads(os.path.join(self.mdir(mp, tag), "model.safetensors"), want,
                          "gated file read by a daemon started without a token")
        with open(os.path.join(self.mdir(mp, tag), "config.json"), "rb") as f:
            self.assertEqual(b"{}\n", f.read())
        self.assertEqual([], [h for h in self.sim.cdn_auth_headers
                              if good in (h.get("authorization") or "")],
                         "the token must not be sent to the CDN")
        # Private with the right token works too.
        ptag, _ = self.pull("hf://org/private", "--token", good)
        self.assertEqual(b'{"p": 1}\n', self.cat(ptag, "config.json"))


    def test_token_file_keeps_the_token_out_of_argv(self):
        good = "hf_simGoodTokenFromFile"
        self.sim.add_repo("org/private", {"config.json": b'{"p": 1}\n'}, private=True)
        self.sim.add_token(good)
        token_file = self.path("token")
        with open(token_file, "w") as f:
            f.write("  %s  \n" % good)
        for mounted in (False, True):
            with self.subTest(mounted=mounted):
                if mounted:
                    self.mount_hf()
                tag, _ = self.pull("hf://org/private", "--token-file", token_file)
                if mounted:  # the daemon keeps the token the pull brought for later reads
                    self.assertEqual(b'{"p": 1}\n', self.cat(tag, "config.json"))
                self.ok("models", "delete", tag, "-y")
                # "-" reads the first line of standard input.
                r = subprocess.run([BIN, "--home", self.home, "models", "pull", "hf://org/private",
                                    "--token-file", "-"], input=(good + "\n").encode(),
                                   env=self.env, capture_output=True, timeout=60)
                self.assertEqual(0, r.returncode, r.stderr)
                self.ok("models", "delete", tag, "-y")
        empty = self.path("empty")
        open(empty, "w").close()
        self.pull_fails("hf://org/private", "--token-file", empty, contains="no token")
        self.pull_fails("hf://org/private", "--token-file", self.path("missing"), contains="cannot read")
        self.pull_fails("hf://org/private", "--token-file", token_file, "--token", good,
                        contains="excludes")
        r = self.ok("models", "pull", "--help")
        self.assertIn("--token-file", r.out)
        self.assertIn("ps", r.out)


# ------------------------------------------------------------------------------------------------
class DedupTest(HfPullTestCase):

    def test_shared_file_fetched_once_and_local_save_needs_no_network(self):
        shared, shared_sha = self.data("shared.safetensors", 4 * MiB)
        self.sim.add_repo("org/a", {"model.safetensors": shared, "config.json": b'{"m": "a"}\n'})
        self.sim.add_repo("org/b", {"weights/model.safetensors": shared,
                                    "config.json": b'{"m": "b"}\n'})
        atag, m = self.pull("hf://org/a")
        self.assertTrue(human_is_zero(m.group(4)))
        mp = self.mount_hf()
        self.assert_reads(os.path.join(self.mdir(mp, atag), "model.safetensors"), shared_sha,
                          "via repo A")
        self.wait_stored("org/a", "model.safetensors")
        cdn_after_a = self.settle(lambda: self.cdn())

        btag, m = self.pull("hf://org/b")
        self.assertFalse(human_is_zero(m.group(4)),
                         "pulling B after A's copy was stored reports it fetched: " + m.group(0))
        self.assert_reads(os.path.join(self.mdir(mp, btag), "weights/model.safetensors"),
                          shared_sha, "via repo B")
        self.assertEqual(cdn_after_a, self.cdn(), "reading the shared file via B used the CDN")
        self.assertEqual(0, self.cdn("org/b", "weights/model.safetensors"))

        # Saved locally first: a pull of the same content needs no network to read.
        local_src = self.path("local")
        lw = os.path.join(local_src, "w.safetensors")
        lw_sha = write_random(lw, 3 * MiB)
        self.save("local:v1", local_src)
        self.sim.add_repo("org/c", {"model.safetensors": lw})
        ctag, m = self.pull("hf://org/c")
        self.assertFalse(human_is_zero(m.group(4)), "content saved locally counts as fetched: "
                         + m.group(0))
        before = self.sim.bytes_sent()
        self.assert_reads(os.path.join(self.mdir(mp, ctag), "model.safetensors"), lw_sha,
                          "repo C's file saved locally before")
        self.assertEqual(before, self.sim.bytes_sent(), "a locally saved content was fetched")


# ------------------------------------------------------------------------------------------------
class BadInputTest(HfPullTestCase):

    def assert_nothing_registered(self):
        self.assertEqual([], self.tags())
        st = self.stats()
        self.assertEqual(0, st["remote_registered_bytes"])
        self.assertEqual([], st["remote_models"])

    def test_bad_sources_and_hub_answers(self):
        big, _ = self.data("bad.safetensors", 1 * MiB + 3)
        self.sim.add_repo("org/good", {"model.safetensors": big, "config.json": b"{}\n"})
        for url in ("hf:/org/good", "hf://", "hf://org/", "hf:///good", "hf://org/good@",
                    "hf://org/go od", "hf://a/b/c", "hf://org/../good", "http://org/good",
                    "org/good", "hf://org/good@main@x", "hf://org/good@/x", "hf://org//good",
                    "hf://@main"):
            with self.subTest(url=url):
                self.pull_fails(url, contains=["hf://", "url", "source"])
                self.assert_nothing_registered()
        cases = [
            ("unknown repo", "hf://org/nope", (), None, "not found"),
            ("unknown revision", "hf://org/good@nope", (), None, "revision"),
            ("html on the API", "hf://org/good", (), ("html", "/api/*", {}), "json"),
            ("json garbage on the API", "hf://org/good", (), ("json_garbage", "/api/*", {}),
             "json"),
            # count=1: the listing says one size, the HEAD of the download another.
            ("size mismatch listing vs HEAD", "hf://org/good", (),
             ("size_mismatch", "model.safetensors", {"delta": 1, "count": 1}),
             ["disagree", "size", "bytes"]),
            ("invalid --name", "hf://org/good", ("--name", "Bad Name!"), None, "name"),
            ("--include matches nothing", "hf://org/good", ("--include", "*.gguf"), None,
             "include"),
            ("--exclude excludes everything", "hf://org/good", ("--exclude", "*"), None, None),
        ]
        for what, url, args, fault, contains in cases:
            with self.subTest(what):
                self.sim.clear_faults()
                if fault:
                    kind, path, params = fault
                    params = dict(params)
                    count = params.pop("count", None)
                    self.sim.add_fault(kind, path, server="hub", count=count, **params)
                self.pull_fails(url, *args, contains=contains)
                self.assert_nothing_registered()
                self.sim.clear_faults()
        # And the good one still pulls afterwards.
        self.pull("hf://org/good")


# ------------------------------------------------------------------------------------------------
class EvictionTest(HfPullTestCase):

    def test_evict_then_refetch(self):
        repo = "org/evict"
        a, a_sha = self.data("ev-a.safetensors", 3 * MiB)
        b, _ = self.data("ev-b.safetensors", 2 * MiB)
        self.sim.add_repo(repo, {"a.safetensors": a, "b.safetensors": b})
        tag, _ = self.pull("hf://" + repo)
        mp = self.mount_hf()
        self.assert_reads(os.path.join(self.mdir(mp, tag), "a.safetensors"), a_sha)
        self.wait_stored(repo, "a.safetensors")
        ok, _ = poll(lambda: self.stats()["remote_evictable_bytes"] == 3 * MiB, timeout=10)
        st = self.stats()
        self.assertEqual(3 * MiB, st["remote_fetched_bytes"], st)
        self.assertEqual(3 * MiB, st["remote_evictable_bytes"], st)
        stored = st["stored_bytes"]
        self.assertGreater(stored, 0)

        # --keep above what is held, and another model's tag: nothing goes.
        self.ok("cache", "evict", "--keep", "100M")
        self.assertEqual(3 * MiB, self.stats()["remote_fetched_bytes"])
        self.ok("cache", "evict", tag)
        st = self.stats()
        self.assertEqual(0, st["remote_fetched_bytes"], st)
        self.assertEqual(0, self.remote_entry(tag)["fetched_bytes"])
        self.assertLess(st["stored_bytes"], stored, "evicted chunks were reclaimed")

        cdn0 = self.cdn(repo, "a.safetensors")
        rc, digest, n, err = self.cat_sha256(tag, "a.safetensors")
        self.assertEqual((0, a_sha), (rc, digest), "models cat after evict: " + err)
        self.assertGreaterEqual(self.cdn(repo, "a.safetensors") - cdn0, 3 * MiB,
                                "an evicted file is fetched again")
        # Through the mount too, once the kernel's cached pages are dropped.
        fd = os.open(os.path.join(self.mdir(mp, tag), "a.safetensors"), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        self.wait_stored(repo, "a.safetensors")
        self.ok("cache", "evict")
        self.assertEqual(0, self.stats()["remote_fetched_bytes"])
        self.assert_reads(os.path.join(self.mdir(mp, tag), "a.safetensors"), a_sha,
                          "through the mount after a second evict")

    def test_evict_keeps_locally_saved_data(self):
        local_src = self.path("local")
        w = os.path.join(local_src, "w.safetensors")
        w_sha = write_random(w, 2 * MiB)
        other_sha = write_random(os.path.join(local_src, "other.bin"), 1 * MiB)
        self.save("local:v1", local_src)
        self.sim.add_repo("org/samecontent", {"w.safetensors": w})
        tag, m = self.pull("hf://org/samecontent")
        self.assertFalse(human_is_zero(m.group(4)), m.group(0))
        self.sim.reset()  # from here on, nothing may go over the network
        mp = self.mount_hf()
        stored = self.stats()["stored_bytes"]
        self.ok("cache", "evict")
        self.ok("cache", "gc")
        self.assertEqual(stored, self.stats()["stored_bytes"], "evict dropped saved data")
        for rel, sha in (("w.safetensors", w_sha), ("other.bin", other_sha)):
            self.assert_reads(os.path.join(self.mdir(mp, "local:v1"), rel), sha, "local " + rel)
        self.assert_reads(os.path.join(self.mdir(mp, tag), "w.safetensors"), w_sha, "remote")
        self.assertEqual(0, self.sim.bytes_sent(), "content saved locally was fetched")
        self.assert_verify_ok()

    def test_cache_limit(self):
        repo = "org/limit"
        a, a_sha = self.data("lim-a.safetensors", 3 * MiB)
        b, b_sha = self.data("lim-b.safetensors", 3 * MiB)
        self.sim.add_repo(repo, {"a.safetensors": a, "b.safetensors": b})
        tag, _ = self.pull("hf://" + repo)
        self.ok("cache", "limit", "1M")
        self.assertIn("1", self.ok("cache", "limit").text)
        self.assertEqual(1 * MiB, self.stats()["fetch_limit_bytes"])
        mp = self.mount_hf()
        self.assert_reads(os.path.join(self.mdir(mp, tag), "a.safetensors"), a_sha)
        self.assert_reads(os.path.join(self.mdir(mp, tag), "b.safetensors"), b_sha)

        ok, _ = poll(lambda: self.stats()["remote_fetched_bytes"] <= 1 * MiB and
                     not self.staging_files(), timeout=20, interval=0.2)
        self.assertTrue(ok, "with `cache limit 1M`, fetched data should come down to the limit "
                        "once the files are stored and closed: %r (staging %r)" % (
                            self.stats(), self.staging_files()))
        self.ok("cache", "limit", "none")
        self.assertIsNone(self.stats()["fetch_limit_bytes"])


# ------------------------------------------------------------------------------------------------
class DeleteTest(HfPullTestCase):

    def test_delete_partially_fetched_model_removes_staging(self):
        repo = "org/del"
        tag, src, _ = self.pulled(repo, "del.safetensors", 8 * MiB)
        mp = self.mount_hf()
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        self.pread(path, 0, 4096)
        self.settle(lambda: self.cdn())
        self.assertTrue(self.staging_files(), "a partial fetch is staged")
        self.assertLess(self.cdn(), 8 * MiB)
        self.ok("models", "delete", tag, "-y")
        self.assertEqual([], self.tags())
        ok, _ = poll(lambda: not self.staging_files(), timeout=10, interval=0.1)
        self.assertTrue(ok, "staging not emptied by delete: %r" % self.staging_files())
        st = self.stats()
        self.assertEqual(0, st["remote_registered_bytes"])
        self.assertEqual(0, st["remote_fetched_bytes"])
        self.umount(mp)
        self.assertEqual([], self.staging_files())


# ------------------------------------------------------------------------------------------------
class FilterRevisionTest(HfPullTestCase):

    def test_include_exclude_revision_and_repull(self):
        repo = "org/filters"
        w, w_sha = self.data("filt.safetensors", 1 * MiB + 1)
        main = {"config.json": b'{"rev": "main"}\n', "model.safetensors": w,
                "onnx/model.onnx": b"onnx" * 100, "tokenizer.json": b'{"t": 1}\n',
                "sub/weights.bin": b"\x01" * 2000}
        pr = {"config.json": b'{"rev": "pr1"}\n', "model.safetensors": w}
        self.sim.add_repo(repo, revisions={"main": main, "refs/pr/1": pr, "v1.0": "main"})
        commit = self.sim.commit(repo)
        pr_commit = self.sim.commit(repo, "refs/pr/1")
        self.assertNotEqual(commit, pr_commit)

        def file_set(tag):
            return sorted(p for p, e in self.files(tag).items() if e["type"] == "file")

        t1, m = self.pull("hf://" + repo, "--name", "only-json", "--include", "*.json",
                          "--exclude", "tokenizer*")
        self.assertEqual(["config.json"], file_set(t1))
        self.assertEqual("1", m.group(2))
        t2, _ = self.pull("hf://" + repo, "--name", "no-onnx", "--exclude", "onnx/*",
                          "--exclude", "*.bin")
        self.assertEqual(["config.json", "model.safetensors", "tokenizer.json"], file_set(t2))
        t3, _ = self.pull("hf://" + repo, "--name", "two-globs", "--include", "*.safetensors",
                          "--include", "sub/*")
        self.assertEqual(["model.safetensors", "sub/weights.bin"], file_set(t3))

        # Default name, then the same commit again by branch, tag and commit: no-ops.
        t4, m = self.pull("hf://" + repo)
        self.assertEqual("org--filters:" + commit[:16], t4)
        self.assertEqual("5", m.group(2))
        for again in ("hf://" + repo, "hf://%s@main" % repo, "hf://%s@v1.0" % repo,
                      "hf://%s@%s" % (repo, commit)):
            with self.subTest(repull=again):
                r = self.ok("models", "pull", again)
                a = ALREADY_RE.search(r.text)
                self.assertIsNotNone(a, "expected the `already registered` line:\n" + r.describe())
                self.assertEqual((t4, commit), a.groups())

        # A revision with '/' in it.
        t5, m = self.pull("hf://%s@refs/pr/1" % repo)
        self.assertEqual("org--filters:" + pr_commit[:16], t5)
        meta = self.get_json(t5)["metadata"]
        self.assertEqual(("refs/pr/1", pr_commit), (meta["hf_revision"], meta["hf_commit"]))
        self.assertEqual(["config.json", "model.safetensors"], file_set(t5))
        r = self.ok("models", "pull", "hf://%s@refs/pr/1" % repo)
        self.assertIsNotNone(ALREADY_RE.search(r.text), r.describe())
        self.assertEqual(5, len(self.tags()))

        # Reads (no mount) get each revision's bytes.
        self.assertEqual(b'{"rev": "pr1"}\n', self.cat(t5, "config.json"))
        self.assertEqual(b'{"rev": "main"}\n', self.cat(t4, "config.json"))
        rc, digest, _, err = self.cat_sha256(t5, "model.safetensors")
        self.assertEqual((0, w_sha), (rc, digest), err)


# ------------------------------------------------------------------------------------------------
class VerifyTest(HfPullTestCase):

    def test_verify_accepts_remote_files_not_fetched_yet(self):
        # A remote file that is not fetched (or was evicted) is not damage: verify checks only
        # the contents stored here.
        src, want = self.data("ver.safetensors", 2 * MiB)
        self.sim.add_repo("org/ver", {"model.safetensors": src, "config.json": b"{}\n"})
        tag, _ = self.pull("hf://org/ver")
        r = self.verify()
        self.assertEqual(0, r.rc, "verify right after a pull (nothing fetched yet):\n"
                         + r.describe())
        self.assertNotIn("damaged", r.text.lower())
        # Once fetched and stored, the model verifies too (and reads back).
        rc, digest, _, err = self.cat_sha256(tag, "model.safetensors")
        self.assertEqual((0, want), (rc, digest), err)
        self.assertEqual(b"{}\n", self.cat(tag, "config.json"))
        self.assert_verify_ok(tag)


if __name__ == "__main__":
    unittest.main()
