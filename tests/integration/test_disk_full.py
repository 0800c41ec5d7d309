"""Disk full during save: a clear error, the store unchanged, the space reclaimable by gc.

Needs root (mounts a 64 MiB tmpfs for the store); skipped otherwise.
"""

import os
import subprocess
import unittest

from harness import KiB, MiB, ModelfsTestCase, make_tree, manifest, needs_root


def used_bytes(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@needs_root
class DiskFullTest(ModelfsTestCase):

    def setUp(self):
        super().setUp()
        self.mnt = self.path("mnt")
        os.makedirs(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.strip())
        # Registered after the temp dir's removal, so it runs before it (cleanups are LIFO).
        self.addCleanup(self.unmount)
        self.home = os.path.join(self.mnt, "home")

    def unmount(self):
        r = subprocess.run(["umount", self.mnt], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)

    def test_save_larger_than_free_space(self):
        small = make_tree(self.path("small"), files={"w.bin": 1 * MiB, "c.json": b"{}"})
        want_small = manifest(small)
        self.save("small:v1", small)
        self.assert_verify_ok()
        before = self.state()
        used_before = used_bytes(self.mnt)

        big = make_tree(self.path("big"), files={"model.safetensors": 96 * MiB,
                                                 "config.json": b"{}", "extra.bin": 4 * MiB})
        r = self.mf("models", "save", "big:v1", big)
        self.assert_error(r, contains=["space", "ENOSPC", "disk full"])

        self.assertEqual(["small:v1"], self.tags())
        self.assert_verify_ok()
        self.assert_model_matches("small:v1", want_small, read_back=True)
        self.ok("cache", "gc")
        self.assert_state_unchanged(before, what="after a failed save and gc")
        used_after = used_bytes(self.mnt)
        self.assertLess(used_after, used_before + 4 * MiB,
                        "tmpfs used %d KiB before the failed save, %d KiB after gc"
                        % (used_before // KiB, used_after // KiB))
        self.assert_verify_ok()

        # The store still works: a model that fits saves and reads back.
        fits = make_tree(self.path("fits"), files={"w.bin": 2 * MiB})
        self.save("fits:v1", fits)
        self.assert_model_matches("fits:v1", manifest(fits), read_back=True)
        self.assert_verify_ok()

    def test_repeated_failures_do_not_accumulate(self):
        self.save("small:v1", make_tree(self.path("small"), files={"w.bin": 512 * KiB}))
        big = make_tree(self.path("big"), files={"w.bin": 80 * MiB})
        for i in range(3):
            self.fails("models", "save", "big:v%d" % i, big, contains=["space", "ENOSPC", "disk full"])
            self.ok("cache", "gc")
        self.assertEqual(["small:v1"], self.tags())
        self.assertLess(used_bytes(self.mnt), 32 * MiB)
        self.assert_verify_ok()


if __name__ == "__main__":
    unittest.main()
