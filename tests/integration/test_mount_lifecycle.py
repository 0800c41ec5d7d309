"""`modelfs mount` lifecycle: every way of unmounting, a second mount, a stale mount after
kill -9, deleting a model whose file is open, foreground mode, allow_other, and bad mount points.

Every mount is made through ModelfsTestCase.mount()/add_mount_cleanup(), so it is undone even when
a test fails.
"""

import errno
import hashlib
import os
import select
import signal
import stat
import subprocess
import time
import unittest

from harness import (BIN, MiB, ModelfsTestCase, daemon_pids, errno_of, is_mounted, make_tree, manifest,
                     mount_entries, mount_entry, poll, sha256_file, wait_pids_gone)

needs_fuse = unittest.skipUnless(os.path.exists("/dev/fuse"), "no /dev/fuse")

# What requests to a mount whose daemon is dead fail with.
DEAD = (errno.ENOTCONN, errno.ECONNABORTED)
STOP_TIMEOUT = 5.0  # seconds for the daemon to unmount and exit after being told to


@needs_fuse
class LifecycleTestCase(ModelfsTestCase):
    other_tags = []  # models a test saves besides life:v1

    def setUp(self):
        super().setUp()
        self.src = make_tree(self.path("src"), files={"w.bin": 3 * MiB + 5, "d/x.txt": b"x\n"})
        self.want = manifest(self.src)
        self.save("life:v1", self.src)

    def assert_serves(self, mp, tag="life:v1"):
        name, version = tag.split(":")
        vd = os.path.join(mp, "models", name, version)
        for rel, w in self.want["files"].items():
            self.assertEqual(w["sha256"], sha256_file(os.path.join(vd, rel)),
                             "%s through the mount at %s" % (rel, mp))

    def assert_stopped(self, mp, pid, how):
        """The mount is gone, the daemon exited, and a plain CLI command works on the store."""
        gone, waited = poll(lambda: not is_mounted(mp), timeout=STOP_TIMEOUT)
        self.assertTrue(gone, "%s: %s still in /proc/self/mounts after %.1fs: %r\nmount.log:\n%s"
                        % (how, mp, waited, mount_entry(mp), self.mount_log()[-2000:]))
        left = wait_pids_gone([pid], STOP_TIMEOUT)
        self.assertEqual([], left, "%s: daemon %d still running %.0fs later" % (
            how, pid, STOP_TIMEOUT))
        self.assertEqual([], daemon_pids(self.home), "%s: a daemon is left" % how)
        # The store works without the daemon (no hang on a leftover control socket either).
        r = self.mf("models", "list", "-o", "json", timeout=30)
        self.assertEqual(0, r.rc, "%s: store unusable after unmounting:\n%s" % (how, r.describe()))
        self.assertEqual(sorted(["life:v1"] + self.other_tags), sorted(self.tags()))
        self.assert_model_matches("life:v1", self.want, read_back=True)
        self.assertTrue(os.path.isdir(mp) and os.listdir(mp) == [],
                        "%s: the mount point is an empty directory again" % how)

    def mount_and_pid(self, mp=None, *opts):
        mp = self.mount(mp, *opts)
        self.assert_serves(mp)
        return mp, self.daemon_pid()


class UnmountTest(LifecycleTestCase):

    def test_modelfs_umount(self):
        mp, pid = self.mount_and_pid()
        r = self.ok("umount", mp, timeout=30)
        self.assertFalse(is_mounted(mp), "`modelfs umount` returned with %s still mounted:\n%s"
                         % (mp, r.describe()))
        self.assert_stopped(mp, pid, "modelfs umount")
        # ... and it mounts again at the same place.
        self.mount(mp)
        self.assert_serves(mp)

    def test_modelfs_umount_relative_path_and_trailing_slash(self):
        mp, pid = self.mount_and_pid()
        self.assertEqual(0, self.mf("umount", os.path.basename(mp) + "/", cwd=self.tmp).rc)
        self.assert_stopped(mp, pid, "modelfs umount mnt/")

    def test_fusermount3_u(self):
        mp, pid = self.mount_and_pid()
        r = subprocess.run(["fusermount3", "-u", mp], capture_output=True, text=True, timeout=30)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assert_stopped(mp, pid, "fusermount3 -u")

    def test_sigterm(self):
        mp, pid = self.mount_and_pid()
        os.kill(pid, signal.SIGTERM)
        self.assert_stopped(mp, pid, "SIGTERM")

    def test_sigint(self):
        mp, pid = self.mount_and_pid()
        os.kill(pid, signal.SIGINT)
        self.assert_stopped(mp, pid, "SIGINT")

    def test_sigterm_while_a_file_is_open(self):
        mp, pid = self.mount_and_pid()
        with open(os.path.join(mp, "models", "life", "v1", "w.bin"), "rb") as f:
            f.read(4096)
            os.kill(pid, signal.SIGTERM)
            # The daemon goes away even though the mount is busy; the mount is then detached or
            # stale, and unmounted at cleanup.
            self.assertEqual([], wait_pids_gone([pid], STOP_TIMEOUT),
                             "daemon still running with a file open after SIGTERM")
        gone, _ = poll(lambda: not is_mounted(mp), timeout=STOP_TIMEOUT)
        if not gone:
            # A busy mount cannot be unmounted cleanly; the next mount must cope with it.
            self.mount(mp)
            self.assert_serves(mp)
            return
        self.assert_stopped(mp, pid, "SIGTERM with an open file")

    def test_foreground(self):
        mp = self.mountpoint()
        self.add_mount_cleanup(mp)
        log = open(self.path("fg.log"), "wb")
        self.addCleanup(log.close)
        p = self.popen("mount", "-f", mp, stderr=log)
        ok, _ = poll(lambda: is_mounted(mp) or p.poll() is not None, timeout=10)
        self.assertTrue(is_mounted(mp), "mount -f did not mount (exit %r)" % p.poll())
        self.assertIsNone(p.poll(), "mount -f must stay in the foreground")
        self.assertEqual([p.pid], daemon_pids(self.home), "mount -f serves from its own process")
        self.assert_serves(mp)
        p.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rc = p.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("mount -f did not exit within %.0fs of SIGINT" % STOP_TIMEOUT)
        self.assertEqual(0, rc, "mount -f exit status after Ctrl-C")
        self.assert_stopped(mp, p.pid, "Ctrl-C of mount -f")


@needs_fuse
class StuckClientTest(LifecycleTestCase):
    """A forwarded command whose output nobody reads, or whose caller died, aborts only itself."""

    def stuck_cat(self, big):
        """`models cat` of a big file into a pipe nobody drains; returns (client, pipe read end)."""
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        client = self.popen("models", "cat", big, "big.bin", stdout=w)
        os.close(w)
        # The pipe (64 KiB) fills; the daemon is then waiting to write the rest.
        filled, _ = poll(lambda: len(select.select([r], [], [], 0)[0]) == 1, timeout=10)
        self.assertTrue(filled, "the cat wrote nothing")
        return client, r

    def big_model(self):
        src = make_tree(self.path("big"), files={"big.bin": 16 * MiB})
        self.save("big:v1", src)
        self.other_tags = ["big:v1"]
        return "big:v1"

    def assert_store_answers(self):
        t0 = time.monotonic()
        self.assertEqual(sorted(["life:v1", "big:v1"]), sorted(self.tags()))
        self.ok("verify", timeout=60)
        self.assertLess(time.monotonic() - t0, 30)

    def test_client_killed_while_its_pipe_is_full(self):
        big = self.big_model()
        mp, pid = self.mount_and_pid()
        client, _ = self.stuck_cat(big)
        self.assert_store_answers()  # a stuck writer holds nothing others need
        client.kill()
        client.wait(timeout=10)
        self.assert_store_answers()
        t0 = time.monotonic()
        self.ok("umount", mp, timeout=30)
        self.assertLess(time.monotonic() - t0, 10, "umount waited for the dead client's command")
        self.assert_stopped(mp, pid, "umount after a dead client")

    def test_umount_while_a_live_client_does_not_read(self):
        big = self.big_model()
        mp, pid = self.mount_and_pid()
        client, _ = self.stuck_cat(big)
        t0 = time.monotonic()
        self.ok("umount", mp, timeout=30)
        self.assertLess(time.monotonic() - t0, 10, "umount waited for a client that does not read")
        rc = client.wait(timeout=10)
        self.assertNotEqual(0, rc, "the stuck cat reported success")
        self.assert_stopped(mp, pid, "umount with a stuck client")

    def test_reader_closes_the_pipe_early(self):
        """`models cat … | head -c 1` through the daemon: the cat fails, the daemon lives on."""
        big = self.big_model()
        mp, pid = self.mount_and_pid()
        out = subprocess.run("%s --home %s models cat %s big.bin | head -c 1 | wc -c" % (
            BIN, self.home, big), shell=True, env=self.env, capture_output=True, timeout=60)
        self.assertEqual(b"1", out.stdout.strip(), out)
        self.assertEqual([pid], daemon_pids(self.home))
        self.assert_store_answers()


class SecondMountTest(LifecycleTestCase):

    def test_same_store_at_another_mountpoint_fails(self):
        mp1, pid = self.mount_and_pid(self.mountpoint("one"))
        mp2 = self.mountpoint("two")
        self.add_mount_cleanup(mp2)
        r = self.fails("mount", mp2, contains=["already mounted", "already", mp1])
        self.assertFalse(is_mounted(mp2), "second mount left %s mounted" % mp2)
        self.assertEqual([pid], daemon_pids(self.home), "only the first daemon runs")
        self.assertEqual([], os.listdir(mp2))
        self.assert_serves(mp1)
        self.assertEqual(["life:v1"], self.tags())
        self.assertIn("life", os.listdir(os.path.join(mp1, "models")), r.describe())

    def test_same_store_same_mountpoint_fails(self):
        mp, pid = self.mount_and_pid()
        self.fails("mount", mp)
        self.assertEqual([pid], daemon_pids(self.home))
        self.assert_serves(mp)

    def test_another_store_over_a_live_mount_fails(self):
        mp, pid = self.mount_and_pid()
        other = self.path("other-home")
        self.add_mount_cleanup(mp, home=other)
        self.fails("mount", mp, home=other, contains=["mount"])
        self.assertEqual([], daemon_pids(other))
        # The live mount was left alone (not taken for a stale one).
        self.assertEqual([pid], daemon_pids(self.home))
        self.assert_serves(mp)


class StaleMountTest(LifecycleTestCase):

    def test_kill_9_of_an_unused_mount_then_mount_again(self):
        mp = self.mount()
        pid = self.daemon_pid()
        os.kill(pid, signal.SIGKILL)
        self.assertEqual([], wait_pids_gone([pid], STOP_TIMEOUT))
        self.assertTrue(is_mounted(mp), "after kill -9 the mount is left behind (stale)")
        # ENOTCONN; ECONNABORTED when the request raced the kernel's abort of the connection.
        self.assertIn(errno_of(os.stat, mp), DEAD, "stat of a stale mount")
        self.remount_over_stale(mp)

    def test_kill_9_of_a_used_mount_then_mount_again(self):
        mp, pid = self.mount_and_pid()  # reads through the mount: the kernel caches attributes
        os.kill(pid, signal.SIGKILL)
        self.assertEqual([], wait_pids_gone([pid], STOP_TIMEOUT))
        self.assertTrue(is_mounted(mp), "after kill -9 the mount is left behind (stale)")
        # Requests that reach the (dead) daemon fail with ENOTCONN.  stat() itself may still
        # succeed: the kernel answers it from the attributes it cached while the daemon lived
        # (the mount was used above, and attribute timeouts are long).
        self.assertIn(errno_of(os.statvfs, mp), DEAD, "statfs of a stale mount")
        self.assertIn(errno_of(os.listdir, mp), DEAD, "readdir of a stale mount")
        self.assertIn(errno_of(os.stat, mp), (None,) + DEAD)
        self.remount_over_stale(mp)

    def test_modelfs_umount_of_a_stale_mount(self):
        for used in (False, True):
            with self.subTest(used_before_kill=used):
                mp = self.mountpoint("mnt-%s" % ("used" if used else "unused"))
                self.mount(mp)
                if used:
                    self.assert_serves(mp)
                pid = self.daemon_pid()
                os.kill(pid, signal.SIGKILL)
                self.assertEqual([], wait_pids_gone([pid], STOP_TIMEOUT))
                self.assertTrue(is_mounted(mp))
                r = self.mf("umount", mp, timeout=30)
                self.assertEqual(0, r.rc, "modelfs umount of a stale mount:\n" + r.describe())
                self.assertFalse(is_mounted(mp), "stale mount still there after modelfs umount")
                self.assertEqual([], os.listdir(mp))

    def remount_over_stale(self, mp):
        # The store works without the daemon despite the stale control socket.
        r = self.mf("models", "list", "-o", "json", timeout=30)
        self.assertEqual(0, r.rc, "plain command after kill -9 of the daemon:\n" + r.describe())
        # The next mount at the same place cleans up and mounts.
        r = self.mf("mount", mp, timeout=30)
        self.assertEqual(0, r.rc, "mount over a stale mount:\n%s\nmount.log:\n%s" % (
            r.describe(), self.mount_log()[-2000:]))
        self.assertTrue(is_mounted(mp))
        self.assertIsNone(errno_of(os.stat, mp))
        self.assert_serves(mp)
        entries = [e for e in mount_entries() if e[1] == mp]
        self.assertEqual(1, len(entries), "stale mount left stacked under the new one: %r"
                         % entries)
        new_pid = self.daemon_pid()
        self.ok("umount", mp, timeout=30)
        self.assert_stopped(mp, new_pid, "umount after recovering a stale mount")


class DeleteWhileOpenTest(LifecycleTestCase):

    def test_open_file_reads_to_the_end_after_delete_and_gc(self):
        big = make_tree(self.path("big"), files={"weights.bin": 24 * MiB, "small.txt": b"s"})
        want = manifest(big)["files"]["weights.bin"]["sha256"]
        self.save("victim:v1", big)
        mp = self.mount()
        path = os.path.join(mp, "models", "victim", "v1", "weights.bin")
        before = self.stats()
        with open(path, "rb", buffering=0) as f:
            first = f.read(1 * MiB)
            # Drop what the kernel cached so that the rest must come from the daemon.
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            self.ok("models", "delete", "victim:v1", "-y")
            self.ok("cache", "gc")
            gone, _ = poll(lambda: not os.path.exists(os.path.join(mp, "models", "victim")),
                           timeout=1.0)
            self.assertTrue(gone, "deleted model still visible in the mount")
            # Save something else so that freed space may be reused.
            self.save("after:v1", make_tree(self.path("after"), files={"n.bin": 8 * MiB}))
            h = hashlib.sha256(first)
            n = len(first)
            while True:
                try:
                    b = f.read(4 * MiB)
                except OSError as e:
                    self.fail("reading the open file after delete + gc failed at %d: %r" % (n, e))
                if not b:
                    break
                h.update(b)
                n += len(b)
        self.assertEqual(24 * MiB, n)
        self.assertEqual(want, h.hexdigest(), "content of the open file after delete + gc")
        self.assert_verify_ok()
        # Once the file is closed, gc reclaims its space (the kernel's release may lag a little).

        def reclaimed():
            self.ok("cache", "gc")
            return self.stats()["pack_bytes"] < before["pack_bytes"] - 12 * MiB

        ok, _ = poll(reclaimed, timeout=3.0, interval=0.2)
        self.assertTrue(ok, "gc after closing the file did not reclaim the deleted model: "
                        "pack_bytes %d before, %d now" % (before["pack_bytes"],
                                                           self.stats()["pack_bytes"]))
        self.assert_serves(mp)


class AllowOtherTest(LifecycleTestCase):

    def as_nobody(self, *argv):
        return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                              + list(argv), capture_output=True, timeout=30)

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to act as another user")
        os.chmod(self.tmp, 0o755)  # let "nobody" reach the mount point

    def test_without_allow_other_only_the_owner_gets_in(self):
        mp = self.mount()
        self.assertNotIn("allow_other", mount_entry(mp)[3].split(","))
        r = self.as_nobody("ls", os.path.join(mp, "models"))
        self.assertNotEqual(0, r.returncode, "another user can read the mount without "
                            "-o allow_other")

    def test_allow_other(self):
        mp = self.mount(None, "-o", "allow_other")
        self.assertIn("allow_other", mount_entry(mp)[3].split(","))
        r = self.as_nobody("ls", os.path.join(mp, "models"))
        self.assertEqual(0, r.returncode, r.stderr.decode())
        self.assertEqual(b"life\n", r.stdout)
        r = self.as_nobody("sha256sum", os.path.join(mp, "models", "life", "v1", "w.bin"))
        self.assertEqual(0, r.returncode, r.stderr.decode())
        self.assertEqual(self.want["files"]["w.bin"]["sha256"], r.stdout.decode().split()[0])


class BadMountpointTest(LifecycleTestCase):

    def refused(self, mp, contains=None, home=None):
        self.add_mount_cleanup(mp, home=home)
        before = [e for e in mount_entries() if e[1] == mp]
        r = self.fails("mount", mp, home=home, contains=contains, timeout=30)
        self.assertEqual(before, [e for e in mount_entries() if e[1] == mp],
                         "a refused mount changed what is mounted at %s" % mp)
        self.assertEqual([], wait_pids_gone(daemon_pids(home or self.home), 2),
                         "a daemon is left after a refused mount")
        return r

    def test_missing_mountpoint(self):
        mp = self.path("missing")
        self.refused(mp, contains=["exist", "no such", mp])
        self.assertFalse(os.path.exists(mp))

    def test_not_empty(self):
        mp = self.mountpoint()
        with open(os.path.join(mp, "keep.txt"), "w") as f:
            f.write("keep")
        self.refused(mp, contains=["empty"])
        self.assertEqual(["keep.txt"], os.listdir(mp))

    def test_a_file(self):
        mp = self.path("file")
        with open(mp, "w") as f:
            f.write("x")
        self.refused(mp, contains=["directory", "not a dir"])
        self.assertTrue(stat.S_ISREG(os.stat(mp).st_mode))

    def test_already_mounted(self):
        mp, pid = self.mount_and_pid()
        self.refused(mp, home=self.path("h2"), contains=["mount"])
        self.assertEqual([pid], daemon_pids(self.home))
        self.assert_serves(mp)

    def test_store_still_usable_after_refusals(self):
        for mp in (self.path("missing"), self.src):
            self.refused(mp)
        self.assertEqual(["life:v1"], self.tags())
        mp = self.mount()
        self.assert_serves(mp)


if __name__ == "__main__":
    unittest.main()
