"""What a lazily fetched file serves before and after its whole-file digest is checked.

The Hub publishes one digest per file, so a partial read of a large file is served before the
digest can be checked (docs/lazy-pull.md, "What is verified when"). These tests hold modelfs to
what it promises around that:
  - once a completed file fails its digest, every staged byte of it is dropped (the first read
    after the CDN heals is right), every handle open on it fails with EIO from then on, and the
    mismatch is logged (model, file, expected and actual digest) and counted (`cache stats`),
    and a daemon told to stop while it finds mismatches stops;
  - a file fetched whole (one segment) is verified before any byte of it is served;
  - strict mode (`modelfs mount --strict`, `-o strict`, `models pull --strict`) never serves a
    byte of a file before all of it matched its digest.
CDN faults come from the Hub simulator: "corrupt" flips the first byte of every answer, "shift"
answers a Range with the requested Content-Range and length but the bytes from 4 KiB earlier.
"""

import errno
import os
import re
import signal
import threading

from harness import KiB, MiB, daemon_pids, poll, wait_pids_gone
from test_hf_pull import READ_TIMEOUT, HfPullTestCase

SIZE = 48 * MiB
OFFSETS = (0, 8 * MiB, 40 * MiB)
MISMATCH_RE = re.compile(r"digest mismatch: model (\S+) file (\S+) .*expected (\S+), got (\S+)")


class LazyVerifyTestCase(HfPullTestCase):

    def mount_with(self, *args, name="mnt"):
        """`modelfs mount MP ARGS...` (MP: a fresh directory `name`) with the test's environment;
        returns MP."""
        mp = self.mountpoint(name)
        self.add_mount_cleanup(mp)
        r = self.mf("mount", mp, *args, timeout=30)
        if r.rc != 0:
            self.fail("mount failed:\n%s\nmount.log:\n%s" % (r.describe(), self.mount_log()[-3000:]))
        return mp

    def source_bytes(self, src, offset, n):
        with open(src, "rb") as f:
            f.seek(offset)
            return f.read(n)

    def pread_errno(self, path, offset, n):
        """(bytes, None) or (None, errno) of one pread through a fresh handle."""
        try:
            return self.pread(path, offset, n), None
        except OSError as e:
            return None, e.errno

    @staticmethod
    def held_errnos(fd):
        """True when 4 KiB reads of `fd` at its start, at 24 MiB and at its end all fail with EIO."""
        for offset in (0, 24 * MiB, SIZE - 4 * KiB):
            try:
                os.pread(fd, 4 * KiB, offset)
                return False
            except OSError as e:
                if e.errno != errno.EIO:
                    return False
        return True

    def mismatches(self):
        return self.stats()["remote_digest_mismatches"]

    def stats_text(self):
        return self.ok("cache", "stats").text


class MismatchTest(LazyVerifyTestCase):

    def test_mismatch_drops_staged_bytes_fails_open_handles_and_is_counted(self):
        for kind, params in (("corrupt", {}), ("shift", {"by": 4 * KiB})):
            with self.subTest(fault=kind):
                self.check_mismatch(kind, params)

    def check_mismatch(self, kind, params):
        repo = "org/mismatch-" + kind
        tag, src, want = self.pulled(repo, "mismatch-%s.safetensors" % kind, SIZE)
        mp = self.mount_hf(self.mountpoint("mnt-" + kind))
        path = os.path.join(self.mdir(mp, tag), "model.safetensors")
        before = self.mismatches()
        fid = self.sim.add_fault(kind, "model.safetensors", repo=repo, server="cdn", method="GET",
                                 count=None, **params)

        # Partial reads are served before the digest can be checked (the documented limit of
        # the default mode); their segments stay staged.
        for offset in OFFSETS:
            got, err = self.pread_errno(path, offset, 4 * KiB)
            self.assertIsNone(err, "4 KiB at %d with a %s CDN: %s" % (offset, kind, err))
            self.assertEqual(4 * KiB, len(got))
        self.assertTrue([h for h in self.sim.stats(include_requests=False)["fault_hits"]
                         if h["id"] == fid], "the %s fault never fired" % kind)

        # A handle opened before the mismatch.
        held = os.open(path, os.O_RDONLY)
        try:
            os.pread(held, 4 * KiB, 24 * MiB)
            digest, err, n = self.read_all(path)
            self.assertEqual(errno.EIO, err, "a full read through a %s CDN: expected EIO, got %s "
                             "after %d bytes (sha256 %s)" % (kind, err, n, digest))

            # Logged and counted.
            lines = list(MISMATCH_RE.finditer(self.mount_log()))
            self.assertTrue(lines, "mount.log has no digest mismatch line:\n"
                            + self.mount_log()[-3000:])
            line = lines[-1]
            self.assertEqual((tag, "model.safetensors"), line.group(1, 2))
            self.assertIn(want, line.group(3), "the line names the expected sha256")
            self.assertNotIn(want, line.group(4))
            self.assertEqual(before + 1, self.mismatches())
            self.assertRegex(self.stats_text(), r"Digest mismatches\s+%d\b" % (before + 1))

            # The handle opened before the mismatch fails from now on, also where the kernel had
            # cached pages (of its own reads and of the full read): they are dropped.
            ok, _ = poll(lambda: self.held_errnos(held), timeout=5, interval=0.1)
            self.assertTrue(ok, "reads through a handle opened before the mismatch did not all "
                            "fail with EIO within 5 s")

            # Nothing of it stays staged, in the index or on disk.
            self.assertEqual(0, self.remote_entry(tag)["fetched_bytes"])
            staging = os.path.join(self.staging_dir(), self.staging_name(repo, "model.safetensors"))
            if os.path.exists(staging):
                self.assertEqual(0, os.stat(staging).st_blocks, "staged blocks kept after the "
                                 "mismatch")

            # The first read after the CDN heals is right.
            self.sim.clear_faults()
            self.assert_reads(path, want, "first full read after the %s CDN healed" % kind)

            # Once the fresh bytes are verified, the kernel may serve its cached pages of them to
            # any handle; what reaches the daemon through the old one still fails. Never a
            # wrong byte.
            for offset in (0, 24 * MiB, SIZE - 4 * KiB):
                try:
                    got = os.pread(held, 4 * KiB, offset)
                except OSError as e:
                    self.assertEqual(errno.EIO, e.errno)
                    continue
                self.assertEqual(self.source_bytes(src, offset, 4 * KiB), got,
                                 "a handle opened before the mismatch read wrong bytes at %d after "
                                 "the CDN healed" % offset)
        finally:
            os.close(held)
        self.wait_stored(repo, "model.safetensors")
        self.assertEqual(before + 1, self.mismatches(), "the healed read counted no mismatch")
        self.ok("umount", mp, timeout=60)

    def test_sigterm_while_mismatches_are_found(self):
        # Dropping the kernel's pages of a file must never wait on reads that a stopping daemon
        # no longer answers (it once did: the daemon hung in D state for good).
        repo = "org/mismatch-sigterm"
        tag, _, _ = self.pulled(repo, "mismatch-sigterm.safetensors", 6 * MiB)
        self.sim.add_fault("corrupt", "model.safetensors", repo=repo, server="cdn", method="GET",
                           count=None)
        for attempt in range(3):
            mp = self.mount_hf(self.mountpoint("mnt-sigterm-%d" % attempt))
            path = os.path.join(self.mdir(mp, tag), "model.safetensors")
            stop = threading.Event()

            def read_until_stopped():
                while not stop.is_set():
                    self._read_all(path)

            readers = [threading.Thread(target=read_until_stopped, daemon=True) for _ in range(3)]
            for t in readers:
                t.start()
            try:
                seen = self.mount_log().count("digest mismatch")
                found, _ = poll(lambda: self.mount_log().count("digest mismatch") >= seen + 2,
                                timeout=30, interval=0.02)
                self.assertTrue(found, "no digest mismatches while reading through a corrupting CDN")
                pids = daemon_pids(self.home)
                for pid in pids:
                    os.kill(pid, signal.SIGTERM)
                self.assertEqual([], wait_pids_gone(pids, 10),
                                 "the daemon did not stop within 10 s of SIGTERM, attempt %d" % attempt)
            finally:
                stop.set()
                for t in readers:
                    t.join(READ_TIMEOUT)

    def test_mismatch_count_survives_remount_and_prefetch_counts_too(self):
        repo = "org/mismatch-prefetch"
        tag, src, want = self.pulled(repo, "mismatch-prefetch.safetensors", 3 * MiB)
        self.sim.add_fault("corrupt", "model.safetensors", repo=repo, server="cdn", method="GET",
                           count=None)
        r = self.mf("models", "pull", "hf://" + repo, "--prefetch", timeout=120)
        self.assert_error(r, "do not match")
        self.assertEqual(1, self.mismatches())
        self.sim.clear_faults()
        mp = self.mount_hf()
        self.assertEqual(1, self.mismatches())
        self.assert_reads(os.path.join(self.mdir(mp, tag), "model.safetensors"), want)


class WholeFileTest(LazyVerifyTestCase):

    def test_files_fetched_whole_are_verified_before_any_byte(self):
        # One segment (256 KiB) or less: the read that fetches any of it fetches all of it.
        repo = "org/whole"
        cfg = os.urandom(100 * KiB)
        lfs = self.data("whole.safetensors", 200 * KiB)
        self.sim.add_repo(repo, {"config.json": cfg, "model.safetensors": lfs[0]})
        self.assertFalse(self.sim.file_info(repo, "config.json")["lfs"])
        tag, _ = self.pull("hf://" + repo)
        mp = self.mount_hf()
        vd = self.mdir(mp, tag)
        for rel, server in (("config.json", "hub"), ("model.safetensors", "cdn")):
            with self.subTest(file=rel):
                self.sim.clear_faults()
                self.sim.add_fault("corrupt", rel, repo=repo, server=server, method="GET",
                                   count=None)
                for offset in (4 * KiB, 64 * KiB):
                    got, err = self.pread_errno(os.path.join(vd, rel), offset, 4 * KiB)
                    self.assertEqual(errno.EIO, err, "4 KiB of %s at %d through a corrupting %s "
                                     "served %r" % (rel, offset, server, got and got[:16]))
        self.sim.clear_faults()
        with open(os.path.join(vd, "config.json"), "rb") as f:
            self.assertEqual(cfg, f.read())
        self.assert_reads(os.path.join(vd, "model.safetensors"), lfs[1])


class StrictTest(LazyVerifyTestCase):

    def check_strict(self, path, src, want, repo, kind):
        """With a `kind` CDN, a 4 KiB read at 40 MiB fails; once healed it is right."""
        self.sim.add_fault(kind, "model.safetensors", repo=repo, server="cdn", method="GET",
                           count=None)
        for offset in (40 * MiB, 0):
            got, err = self.pread_errno(path, offset, 4 * KiB)
            self.assertEqual(errno.EIO, err, "strict: 4 KiB at %d through a %s CDN served %s" % (
                offset, kind, "the right bytes" if got == self.source_bytes(src, offset, 4 * KiB)
                else "WRONG bytes"))
        self.sim.clear_faults()
        got, err = self.pread_errno(path, 40 * MiB, 4 * KiB)
        self.assertIsNone(err, "strict, healed: %s\nmount.log:\n%s" % (err, self.mount_log()[-2000:]))
        self.assertEqual(self.source_bytes(src, 40 * MiB, 4 * KiB), got)
        # Strict fetched the whole file to serve those 4 KiB.
        self.assertGreaterEqual(self.cdn(repo, "model.safetensors"), SIZE)
        self.assert_reads(path, want, "strict, full read")

    def test_strict_mount(self):
        for args in (("--strict",), ("-o", "strict")):
            with self.subTest(args=args):
                repo = "org/strict-mount-" + args[-1].strip("-")
                tag, src, want = self.pulled(repo, repo.replace("/", "-") + ".safetensors", SIZE)
                mp = self.mount_with(*args, name="mnt" + args[-1].strip("-"))
                self.check_strict(os.path.join(self.mdir(mp, tag), "model.safetensors"), src, want,
                                  repo, "corrupt")
                self.ok("umount", mp, timeout=60)

    def test_strict_pull_is_recorded_on_the_model(self):
        repo = "org/strict-pull"
        src, want = self.data("strict-pull.safetensors", SIZE)
        self.sim.add_repo(repo, {"model.safetensors": src})
        tag, _ = self.pull("hf://" + repo, "--strict")
        self.assertIs(True, self.remote_entry(tag)["strict"], "cache stats shows strict")
        lax_repo = "org/lax-pull"
        lax_src, _ = self.data("lax-pull.safetensors", SIZE)
        self.sim.add_repo(lax_repo, {"model.safetensors": lax_src})
        lax_tag, _ = self.pull("hf://" + lax_repo)
        self.assertIs(False, self.remote_entry(lax_tag)["strict"])

        mp = self.mount_hf()  # no --strict: the model's own policy holds
        self.check_strict(os.path.join(self.mdir(mp, tag), "model.safetensors"), src, want, repo,
                          "shift")
        # The other model keeps the default: a partial read is served at once.
        got, err = self.pread_errno(os.path.join(self.mdir(mp, lax_tag), "model.safetensors"),
                                    40 * MiB, 4 * KiB)
        self.assertEqual(self.source_bytes(lax_src, 40 * MiB, 4 * KiB), got)
        self.assertLess(self.cdn(lax_repo, "model.safetensors"), SIZE // 4)

        # Pulling the same commit again with --strict makes a lax model strict.
        r = self.ok("models", "pull", "hf://" + lax_repo, "--strict", timeout=120)
        self.assertIn("strict", r.text)
        self.assertIs(True, self.remote_entry(lax_tag)["strict"])
        # ... at once, in the mount too: the next read fetches and checks the whole file.
        lax_path = os.path.join(self.mdir(mp, lax_tag), "model.safetensors")
        got, err = self.pread_errno(lax_path, 8 * MiB, 4 * KiB)
        self.assertEqual(self.source_bytes(lax_src, 8 * MiB, 4 * KiB), got)
        self.assertGreaterEqual(self.cdn(lax_repo, "model.safetensors"), SIZE)
        self.assertRegex(self.stats_text(), re.escape(lax_tag) + r"\s.*\bstrict\b")
