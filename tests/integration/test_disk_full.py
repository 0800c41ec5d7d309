"""A full disk: a save, a lazy fetch through the mount and gc on small tmpfs stores; and an index
damaged on disk, which `verify --repair` rebuilds.

A full disk gives a clear error and leaves the store unchanged and usable by every command; gc
frees space even when the disk is full.  Needs root (mounts tmpfs stores); skipped otherwise.
"""

import glob
import os
import unittest

from harness import (KiB, MiB, ModelfsTestCase, daemon_pids, free_bytes, is_mounted, make_tree,
                     manifest, needs_root, used_bytes, write_random)
from test_hf_pull import HfPullTestCase

NO_SPACE = ["space", "ENOSPC", "disk full"]
REPAIR_HINT = "verify --repair"


def fill(path, leave):
    """Writes `path` until the disk holding it has about `leave` bytes free."""
    block = b"\0" * (64 * KiB)
    with open(path, "wb") as f:
        while free_bytes(os.path.dirname(path)) > leave + len(block):
            f.write(block)
            f.flush()
        f.write(b"\0" * max(0, free_bytes(os.path.dirname(path)) - leave))


@needs_root
class DiskFullTest(ModelfsTestCase):

    def setUp(self):
        super().setUp()
        self.mnt = self.mount_tmpfs("mnt", "64m")
        self.home = os.path.join(self.mnt, "home")

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


    def test_gc_frees_space_on_a_nearly_full_disk(self):
        # 41 MiB of garbage and 1.4 MiB of live data in one pack, 5.3 MiB free: RocksDB took
        # 4 MiB of it for a preallocated log, then the copy of the live data failed (ENOSPC).
        keep = make_tree(self.path("keep"), files={"w.bin": 1400 * KiB})
        self.save("keep:v1", keep)
        self.save("big:v1", make_tree(self.path("big"), files={"w.bin": 41 * MiB}))
        self.ok("models", "delete", "big:v1", "-y")
        fill(os.path.join(self.mnt, "filler"), leave=int(5.3 * MiB))
        used_before = used_bytes(self.mnt)
        r = self.ok("cache", "gc")
        self.assertNotIn("Warning", r.both, r.describe())
        self.assertLess(used_bytes(self.mnt), used_before - 38 * MiB,
                        "gc on a nearly full disk: %s" % r.describe())
        self.assert_model_matches("keep:v1", manifest(keep), read_back=True)
        self.assert_verify_ok()

    def test_gc_that_cannot_compact_says_so_and_changes_nothing(self):
        keep = make_tree(self.path("keep"), files={"w.bin": 3 * MiB})
        self.save("keep:v1", keep)
        self.save("big:v1", make_tree(self.path("big"), files={"w.bin": 20 * MiB}))
        self.ok("models", "delete", "big:v1", "-y")
        fill(os.path.join(self.mnt, "filler"), leave=2 * MiB)
        pack_bytes = self.stats()["pack_bytes"]
        r = self.ok("cache", "gc")
        self.assertIn("not compacted", r.both, r.describe())
        self.assertIn("Free some space", r.both, r.describe())
        self.assertEqual(pack_bytes, self.stats()["pack_bytes"])
        self.assertEqual(["keep:v1"], self.tags())
        self.assert_verify_ok()
        os.remove(os.path.join(self.mnt, "filler"))
        used_before = used_bytes(self.mnt)
        self.ok("cache", "gc")
        self.assertLess(used_bytes(self.mnt), used_before - 18 * MiB)
        self.assert_model_matches("keep:v1", manifest(keep), read_back=True)
        self.assert_verify_ok()

    def test_commands_work_after_the_disk_filled_up_from_outside(self):
        keep = make_tree(self.path("keep"), files={"w.bin": 1 * MiB})
        self.save("keep:v1", keep)
        fill(os.path.join(self.mnt, "filler"), leave=0)
        for args in (("models", "list"), ("verify",), ("cache", "stats")):
            self.ok(*args)
        self.fails("models", "save", "more:v1", make_tree(self.path("more"), files={"a": 2 * MiB}),
                   contains=NO_SPACE)
        os.remove(os.path.join(self.mnt, "filler"))
        self.save("more:v1", self.path("more"))
        self.ok("models", "delete", "more:v1", "-y")
        self.ok("cache", "gc")
        self.assert_model_matches("keep:v1", manifest(keep), read_back=True)
        self.assert_verify_ok()

        # Partly fetched bytes (say, of a daemon killed mid-fetch) fill the disk to the last
        # byte: a writer cannot open the index, drops them (they can be fetched again) and runs.
        staging = os.path.join(self.home, "staging")
        os.makedirs(staging, exist_ok=True)
        fill(os.path.join(staging, "4c" + "ab" * 32), leave=0)
        r = self.ok("cache", "gc")
        self.assertIn("partly fetched", r.err, r.describe())
        self.assertEqual([], os.listdir(staging))
        self.assert_model_matches("keep:v1", manifest(keep), read_back=True)
        self.assert_verify_ok()


@needs_root
class LazyFetchDiskFullTest(HfPullTestCase):
    """A 96 MiB file read through the mount into a store on a 64 MiB tmpfs."""

    def test_fetch_that_fills_the_disk(self):
        mnt = self.mount_tmpfs("store", "64m")
        self.home = os.path.join(mnt, "home")
        local = make_tree(self.path("local"), files={"w.bin": 1 * MiB})
        self.save("local:v1", local)
        small_tag, _, small_sha = self.pulled("org/small", "small.safetensors", 6 * MiB)
        big_tag, _, _ = self.pulled("org/big", "big.safetensors", 96 * MiB)
        mp = self.mount_hf()
        pid = self.daemon_pid()
        self.assert_reads(os.path.join(self.mdir(mp, small_tag), "model.safetensors"), small_sha)
        self.wait_stored("org/small", "model.safetensors")

        digest, err, n = self.read_all(os.path.join(self.mdir(mp, big_tag), "model.safetensors"),
                                       timeout=120)
        self.assertIsNotNone(err, "read 96 MiB into a 64 MiB disk (%d bytes)" % n)
        log = self.mount_log()
        self.assertIn("evicted 1 fetched contents", log, "the fetched small file made room first")
        self.assertIn("a fetch stopped: no space left on the disk", log[-20000:])
        self.assertNotIn("Assertion", log)

        # The daemon survived and serves what is stored; its commands work.
        self.assertTrue(is_mounted(mp))
        self.assertIn(pid, daemon_pids(self.home))
        self.assert_reads(os.path.join(self.mdir(mp, "local:v1"), "w.bin"),
                          manifest(local)["files"]["w.bin"]["sha256"])
        self.ok("models", "list")
        self.umount(mp)

        # Every command works afterwards, without emptying the staging directory by hand.
        self.ok("cache", "gc")
        self.ok("cache", "evict")
        self.assertEqual([], self.staging_files())
        self.ok("models", "delete", big_tag, "-y")
        more = make_tree(self.path("more"), files={"m.bin": 8 * MiB})
        self.save("more:v1", more)
        self.assertIn("more:v1", self.tags())
        self.assert_model_matches("more:v1", manifest(more), read_back=True)
        self.assert_model_matches("local:v1", manifest(local), read_back=True)
        self.assert_verify_ok()
        self.assertLess(used_bytes(mnt), 32 * MiB)


class IndexRepairTest(ModelfsTestCase):
    """An index damaged on disk: the error names `verify --repair`, which rebuilds it."""

    def two_models(self):
        trees = {}
        for tag, size in (("a:v1", 3 * MiB), ("b:v1", 2 * MiB)):
            src = make_tree(self.path(tag.replace(":", "-")),
                            files={"w.bin": size, "c.json": b"{}", "sub/x.bin": 64 * KiB})
            self.save(tag, src)
            trees[tag] = manifest(src)
        return trees

    def assert_repaired(self, trees):
        r = self.mf("verify", "--repair")
        self.assertNotIn(REPAIR_HINT, r.both, r.describe())
        self.assertEqual(0, r.rc, r.describe())
        self.assertIn("repair: ", r.text, r.describe())
        self.assertEqual(sorted(trees), sorted(self.tags()))
        for tag, tree in trees.items():
            self.assert_model_matches(tag, tree, read_back=True)
        self.assert_verify_ok()
        # The store works: a save, a delete and gc.
        self.save("c:v1", make_tree(self.path("c"), files={"w.bin": 1 * MiB}))
        self.ok("models", "delete", "a:v1", "-y")
        self.ok("cache", "gc")
        self.assert_verify_ok()

    def test_garbage_current(self):
        trees = self.two_models()
        with open(os.path.join(self.home, "index", "CURRENT"), "wb") as f:
            f.write(b"\x00garbage\xff not a manifest name")
        self.fails("models", "list", contains=[REPAIR_HINT])
        self.assert_repaired(trees)

    def test_damaged_table_block(self):
        trees = self.two_models()
        tables = sorted(glob.glob(os.path.join(self.home, "index", "*.sst")), key=os.path.getsize)
        self.assertTrue(tables, "no table in the index")
        with open(tables[-1], "r+b") as f:  # the chunk index: the largest table
            f.seek(os.path.getsize(tables[-1]) // 3)
            f.write(b"\xde\xad\xbe\xef" * 64)
        self.fails("verify", contains=[REPAIR_HINT])
        self.assert_repaired(trees)

    def test_every_table_damaged_says_what_was_lost(self):
        self.two_models()
        for table in glob.glob(os.path.join(self.home, "index", "*.sst")):
            with open(table, "r+b") as f:
                f.seek(os.path.getsize(table) // 2)
                f.write(b"\xde\xad\xbe\xef" * 16)
        r = self.mf("verify", "--repair")
        self.assertNotIn(REPAIR_HINT, r.both, r.describe())
        self.assertIn("the index was damaged", r.text, r.describe())
        self.assertIn("models", r.text, r.describe())
        # Whatever was lost, the store works again: models that lost records can be deleted
        # and gc reclaims the rest.
        for tag in self.tags():
            self.ok("models", "delete", tag, "-y")
        self.ok("cache", "gc")
        self.save("c:v1", make_tree(self.path("c"), files={"w.bin": 1 * MiB}))
        self.assertEqual(["c:v1"], self.tags())
        self.assert_verify_ok()


if __name__ == "__main__":
    unittest.main()
