"""Delete, garbage collection and verify (including detection of damaged packs)."""

import os
import shutil
import unittest

from harness import DELETED_RE, KiB, MiB, ModelfsTestCase, make_tree, manifest


class DeleteTest(ModelfsTestCase):

    def src(self, name, size=64 * KiB):
        return make_tree(self.path(name), files={"w.bin": size, "c.json": b"{}"})

    def test_delete_one_version(self):
        self.save("m:v1", self.src("a"))
        self.save("m:v2", self.src("b"))
        self.save("other:v1", self.src("c"))
        r = self.ok("models", "delete", "m:v1", "-y")
        self.assertEqual(["m:v1"], DELETED_RE.findall(r.text), r.describe())
        self.assertEqual({"m:v2", "other:v1"}, set(self.tags()))
        self.fails("models", "get", "m:v1")
        self.assertEqual("v2", self.get_json("m")["version"])
        self.assertEqual(2, self.stats()["models"])

    def test_bare_name_deletes_every_version(self):
        for v in ("v1", "v2", "v3"):
            self.save("multi:" + v, self.src(v))
        self.save("keep:v1", self.src("k"))
        r = self.ok("models", "delete", "multi", "-y")
        self.assertEqual({"multi:v1", "multi:v2", "multi:v3"}, set(DELETED_RE.findall(r.text)),
                         r.describe())
        self.assertEqual(["keep:v1"], self.tags())
        self.assertEqual([], self.list_json("multi"))

    def test_long_yes_option(self):
        self.save("y:v1", self.src("a"))
        self.ok("models", "delete", "y:v1", "--yes")
        self.assertEqual([], self.tags())

    def test_delete_then_save_same_tag_again(self):
        src = self.src("a")
        want = manifest(src)
        self.save("again:v1", src)
        self.ok("models", "delete", "again:v1", "-y")
        self.save("again:v1", src)
        self.assert_model_matches("again:v1", want, read_back=True)
        self.ok("cache", "gc")
        self.assert_model_matches("again:v1", want, read_back=True)
        self.assert_verify_ok()


class GcTest(ModelfsTestCase):

    def test_gc_reclaims_space_of_deleted_model(self):
        # The deleted model holds most of the data, so any sane compaction threshold applies.
        a = make_tree(self.path("a"), files={"a.bin": 32 * MiB, "small.txt": b"a\n"})
        b = make_tree(self.path("b"), files={"b.bin": 8 * MiB, "small.txt": b"b\n"})
        want_b = manifest(b)
        self.save("gone:v1", a)
        self.save("kept:v1", b)
        st_before, disk_before = self.stats(), self.pack_disk_bytes()
        self.ok("models", "delete", "gone:v1", "-y")
        self.ok("cache", "gc")
        st_after, disk_after = self.stats(), self.pack_disk_bytes()
        self.assertLess(st_after["pack_bytes"], st_before["pack_bytes"] - 20 * MiB,
                        "pack_bytes %d -> %d" % (st_before["pack_bytes"], st_after["pack_bytes"]))
        self.assertLess(disk_after, disk_before - 20 * MiB,
                        "packs/ on disk %d -> %d" % (disk_before, disk_after))
        self.assertLess(st_after["chunks"], st_before["chunks"])
        self.assertEqual(1, st_after["models"])
        self.assert_model_matches("kept:v1", want_b, read_back=True)
        self.assert_verify_ok()

    def test_gc_keeps_chunks_shared_with_a_live_model(self):
        shared = os.urandom(4 * MiB)
        a = make_tree(self.path("a"), files={"shared.bin": shared, "own.bin": 28 * MiB})
        b = make_tree(self.path("b"), files={"shared.bin": shared, "other.bin": 1 * MiB})
        want_b = manifest(b)
        self.save("a:v1", a)
        self.save("b:v1", b)
        self.ok("models", "delete", "a:v1", "-y")
        self.ok("cache", "gc")
        self.assert_model_matches("b:v1", want_b, read_back=True)
        self.assertLess(self.stats()["pack_bytes"], 16 * MiB)
        self.assert_verify_ok()

    def test_gc_on_clean_store_changes_nothing(self):
        src = make_tree(self.path("a"), files={"a.bin": 2 * MiB})
        want = manifest(src)
        self.ok("cache", "gc")  # empty store
        self.save("clean:v1", src)
        before = self.state()
        self.ok("cache", "gc")
        self.ok("cache", "gc")
        self.assert_state_unchanged(before)
        self.assert_model_matches("clean:v1", want, read_back=True)

    def test_delete_everything_then_gc_empties_packs(self):
        for i in range(3):
            self.save("x:v%d" % i, make_tree(self.path("s%d" % i), files={"w.bin": 4 * MiB}))
        self.ok("models", "delete", "x", "-y")
        self.ok("cache", "gc")
        st = self.stats()
        self.assertEqual(0, st["models"])
        self.assertLess(st["pack_bytes"], 64 * KiB)
        self.assertLess(self.pack_disk_bytes(), 64 * KiB)
        self.assert_verify_ok()


class VerifyTest(ModelfsTestCase):

    def test_verify_healthy_store(self):
        self.assert_verify_ok()  # empty store
        self.save("h:v1", make_tree(self.path("a"), files={"w.bin": 3 * MiB, "e": b""},
                                    dirs=["empty"]))
        self.save("h:v2", make_tree(self.path("b"), files={"w.bin": 1 * MiB}))
        self.assert_verify_ok()
        self.assert_verify_ok("h:v1")
        self.assert_verify_ok("h")

    def save_two_and_locate_first(self):
        """Saves bad:v1 (one 8 MiB random file) then good:v1; returns (pack, offset) of a byte
        inside bad:v1's data."""
        self.save("bad:v1", make_tree(self.path("a"), files={"weights/model.bin": 8 * MiB,
                                                             "tiny.txt": b"t"}))
        packs = {p: os.path.getsize(p) for p in self.pack_files()}
        self.assertTrue(packs, "no pack files under %s" % self.packs_dir())
        pack = max(packs, key=packs.get)
        self.good_src = make_tree(self.path("b"), files={"other.bin": 2 * MiB})
        self.save("good:v1", self.good_src)
        offset = packs[pack] // 2
        self.assertGreater(offset, 64)
        return pack, offset

    def test_flipped_byte_in_pack_is_detected(self):
        pack, offset = self.save_two_and_locate_first()
        self.assert_verify_ok()
        with open(pack, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x5A]))
        r = self.verify()
        self.assertEqual(1, r.rc, "verify must fail on a damaged pack:\n" + r.describe())
        self.assertIn("bad:v1", r.both, "verify must name the affected model:\n" + r.describe())
        self.assertIn("weights/model.bin", r.both,
                      "verify must name the affected file:\n" + r.describe())
        self.assertEqual(1, self.verify("bad:v1").rc)
        self.assert_verify_ok("good:v1")
        # Reads check chunk hashes: the damaged file is never served as good bytes.
        rc, _, _, err = self.cat_sha256("bad:v1", "weights/model.bin")
        self.assertNotEqual(0, rc, "cat of a damaged file must fail")
        self.assert_model_matches("good:v1", manifest(self.good_src), read_back=True)
        # The store still lists and still accepts new models.
        self.assertEqual({"bad:v1", "good:v1"}, set(self.tags()))
        self.save("after:v1", make_tree(self.path("c"), files={"n.bin": 100 * KiB}))

    def test_truncated_pack_is_detected(self):
        pack, offset = self.save_two_and_locate_first()
        with open(pack, "r+b") as f:
            f.truncate(offset)
        r = self.verify()
        self.assertEqual(1, r.rc, "verify must fail on a truncated pack:\n" + r.describe())
        self.assertIn("bad:v1", r.both, r.describe())
        self.assertGreaterEqual(r.rc, 0)
        self.ok("models", "list")

    def test_deleted_pack_is_detected(self):
        self.save("lost:v1", make_tree(self.path("a"), files={"w.bin": 2 * MiB}))
        for p in self.pack_files():
            os.unlink(p)
        r = self.verify()
        self.assertEqual(1, r.rc, r.describe())
        self.assertIn("lost:v1", r.both, r.describe())

    def test_repair_on_healthy_store_keeps_everything(self):
        src = make_tree(self.path("a"), files={"w.bin": 3 * MiB, "x/y.txt": b"y"})
        want = manifest(src)
        self.save("rep:v1", src)
        before = self.state()
        self.ok("verify", "--repair")
        self.assert_state_unchanged(before)
        self.assert_verify_ok()
        self.assert_model_matches("rep:v1", want, read_back=True)

    def test_damaged_index_gives_clear_error(self):
        self.save("idx:v1", make_tree(self.path("a"), files={"w.bin": 1 * MiB}))
        current = os.path.join(self.home, "index", "CURRENT")
        if not os.path.exists(current):
            self.skipTest("no RocksDB CURRENT file at %s" % current)
        with open(current, "wb") as f:
            f.write(b"\x00garbage-not-a-manifest")
        r = self.mf("models", "list", "-o", "json")
        self.assertGreaterEqual(r.rc, 0, "crashed on a damaged index:\n" + r.describe())
        if r.rc != 0:  # a clear error is fine; silently repairing is fine too
            self.assert_error(r)

    def test_missing_index_does_not_crash(self):
        self.save("idx:v1", make_tree(self.path("a"), files={"w.bin": 1 * MiB}))
        shutil.rmtree(os.path.join(self.home, "index"))
        r = self.mf("models", "list", "-o", "json")
        self.assertGreaterEqual(r.rc, 0, "crashed on a missing index:\n" + r.describe())
        if r.rc != 0:
            self.assert_error(r)


if __name__ == "__main__":
    unittest.main()
