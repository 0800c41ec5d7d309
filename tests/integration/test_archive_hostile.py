"""`modelfs models import` of hostile or broken archives: each is refused with exit 1 and an
`Error:` naming the problem, and the store is left as it was (same list, same files, and after
`cache gc` the same counters).  Also exports to a full disk leave nothing behind.

Every case of a test shares that test's store (one model saved in setUp); subtests keep the
cases apart in the report.
"""

import io
import os
import random
import tarfile
import unittest
import warnings
import zipfile

from harness import KiB, MiB, needs_root, used_bytes
from test_archive import IMPORTED_RE, ArchiveTestCase, list_dir, model_yaml, write_tar

YAML = ("./model.yaml", "file", model_yaml("victim", "v1"))
OK_FILE = ("./ok.bin", "file", b"fine\n")


def write_zip(path, members):
    """members: [(name, data)] or [(name, data, unix_mode)]."""
    with zipfile.ZipFile(path, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is what some cases want
        for m in members:
            info = zipfile.ZipInfo(m[0], date_time=(2024, 1, 1, 0, 0, 0))
            if len(m) > 2:
                info.external_attr = m[2] << 16
            z.writestr(info, m[1])
    return path


def random_bytes(n, seed):
    return random.Random(seed).randbytes(n)


def damaged(path, out, cut=None, flip=None):
    """A copy of `path` cut to `cut` bytes, or with 16 bytes inverted at offset `flip`."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if cut is not None:
        data = data[:cut]
    if flip is not None:
        for i in range(flip, flip + 16):
            data[i] ^= 0xFF
    with open(out, "wb") as f:
        f.write(bytes(data))
    return out


class HostileImportCase(ArchiveTestCase):

    def setUp(self):
        super().setUp()
        self.saved_model("existing:v1", weights_size=64 * KiB)
        self.before = self.snapshot()
        self.n = 0

    def refused(self, path, words, what):
        """Import must fail with one of `words` in the error; the store must be unchanged."""
        r = self.mf("models", "import", path, timeout=60)
        m = IMPORTED_RE.search(r.text)
        if r.rc == 0 and m:
            # Wrongly accepted: take it out again so that the next case starts from `before`.
            self.mf("models", "delete", m.group(1), "-y")
            self.mf("cache", "gc")
        self.assert_error(r, contains=words)
        self.assertIsNone(m, r.describe())
        self.assert_unchanged(self.before, what="after importing " + what)
        return r

    def tar_case(self, what, members, words, mode="w", ext=".tar"):
        self.n += 1
        with self.subTest(what):
            path = write_tar(self.path("case%02d%s" % (self.n, ext)), members, mode)
            self.refused(path, words, what)

    def zip_case(self, what, members, words):
        self.n += 1
        with self.subTest(what):
            self.refused(write_zip(self.path("case%02d.zip" % self.n), members), words, what)


class PathTraversalTest(HostileImportCase):

    def test_member_paths_leaving_the_model(self):
        self.tar_case("absolute", [YAML, OK_FILE, ("/etc/x", "file", b"x")], ["/etc/x", "absolute"])
        self.tar_case("dot-dot", [YAML, OK_FILE, ("./../x", "file", b"x")], ["../x", "outside"])
        self.tar_case("nested dot-dot", [YAML, OK_FILE, ("a/../../x", "file", b"x")],
                      ["a/../../x", "../x", "outside"])
        self.tar_case("dot-dot in .bentomodel", [YAML, OK_FILE, ("./../../x", "file", b"x")],
                      ["../x", "outside"], mode="w:xz", ext=".bentomodel")
        self.zip_case("zip dot-dot", [("model.yaml", YAML[2]), ("../evil.txt", b"x")],
                      ["evil.txt", "outside"])
        self.zip_case("zip absolute", [("model.yaml", YAML[2]), ("/abs.txt", b"x")],
                      ["abs.txt", "absolute"])

    def test_symlinks_leaving_the_model(self):
        self.tar_case("absolute target", [YAML, OK_FILE, ("./evil-abs", "symlink", "/etc/passwd")],
                      ["evil-abs"])
        self.tar_case("dot-dot target", [YAML, OK_FILE, ("./sub", "dir"),
                                         ("./sub/evil-rel", "symlink", "../../outside.bin")],
                      ["evil-rel"])
        self.zip_case("zip symlink", [("model.yaml", YAML[2]),
                                      ("evil-zip", b"/etc/passwd", 0o120777)], ["evil-zip"])


class BadLinksAndSpecialFilesTest(HostileImportCase):

    def test_bad_links(self):
        self.tar_case("hardlink outside", [YAML, OK_FILE,
                                           ("./hlink-esc.bin", "hardlink", "../escaped.bin")],
                      ["hlink-esc.bin", "outside"])
        self.tar_case("hardlink missing", [YAML, OK_FILE,
                                           ("./hard-missing.bin", "hardlink", "./nothing.bin")],
                      ["hard-missing.bin", "nothing.bin"])
        self.tar_case("symlink to directory", [YAML, OK_FILE, ("./sub", "dir"),
                                               ("./sub/x.txt", "file", b"x"),
                                               ("./dirlink", "symlink", "sub")], ["dirlink"])
        self.tar_case("dangling symlink", [YAML, OK_FILE,
                                           ("./dangling.bin", "symlink", "nothing.bin")],
                      ["dangling.bin"])
        self.tar_case("symlink loop", [YAML, OK_FILE, ("./loop-a", "symlink", "loop-b"),
                                       ("./loop-b", "symlink", "loop-a")], ["loop-a", "loop-b"])
        self.tar_case("self loop", [YAML, OK_FILE, ("./self-loop", "symlink", "self-loop")],
                      ["self-loop"])

    def test_special_files(self):
        for kind, name in (("fifo", "pipe0"), ("chr", "chardev0"), ("blk", "blockdev0")):
            self.tar_case(kind, [YAML, OK_FILE, ("./" + name, kind)], [name])

    def test_duplicates_and_file_dir_conflicts(self):
        self.tar_case("same file twice", [YAML, ("./dup.bin", "file", b"one"),
                                          ("./dup.bin", "file", b"two")], ["dup.bin"])
        self.tar_case("model.yaml twice", [YAML, OK_FILE, YAML], ["model.yaml"])
        self.tar_case("file then child", [YAML, ("./both", "file", b"f"),
                                          ("./both/inner.txt", "file", b"x")], ["both"])
        self.tar_case("dir then file", [YAML, ("./both2", "dir"), ("./both2/in.txt", "file", b"x"),
                                        ("./both2", "file", b"f")], ["both2"])
        self.zip_case("zip duplicate", [("model.yaml", YAML[2]), ("zdup.bin", b"1"),
                                        ("zdup.bin", b"2")], ["zdup.bin"])


class BadModelYamlTest(HostileImportCase):

    def yaml_case(self, what, text, words):
        self.tar_case(what, [("./model.yaml", "file", text), OK_FILE], words)

    def test_missing_model_yaml(self):
        self.tar_case("no model.yaml", [("./", "dir"), OK_FILE], ["no model.yaml"])
        self.tar_case("model.yaml only in a subdirectory", [("./sub", "dir"),
                      ("./sub/model.yaml", "file", model_yaml("nested", "v1")), OK_FILE],
                      ["no model.yaml"])
        self.zip_case("zip without model.yaml", [("ok.bin", b"fine")], ["no model.yaml"])

    def test_invalid_model_yaml(self):
        words = ["model.yaml", "not valid", "invalid", "yaml"]
        self.yaml_case("syntax error", b"name: [unclosed\nversion: v1\n", words)
        self.yaml_case("a list", b"- name\n- version\n", words)
        self.yaml_case("a scalar", b"just some text\n", words)
        self.yaml_case("empty", b"", words)
        self.yaml_case("binary", random_bytes(300, 1), words)

    def test_invalid_tag_in_model_yaml(self):
        self.yaml_case("bad name", model_yaml("'Bad Name!'", "v1"), ["bad name!", "name"])
        self.yaml_case("version too long", model_yaml("okname", "v" * 64), ["v" * 64, "version"])
        self.yaml_case("name too long", model_yaml("n" * 64, "v1"), ["n" * 64, "name"])
        self.yaml_case("missing version", b"name: okname\nmodule: ''\nlabels: {}\n", ["version"])
        self.yaml_case("missing name", b"version: v1\nmodule: ''\n", ["name"])
        self.yaml_case("path in name", model_yaml("../escape", "v1"), ["../escape", "name"])


class DamagedDataTest(HostileImportCase):
    """Archives of a "victim" model (random 1 MiB) cut short, flipped, or not archives at all."""

    DAMAGE_WORDS = ["damaged", "truncated", "corrupt", "not valid"]

    def victim(self, mode, ext, weights_size=1 * MiB):
        """A tar of a model named after the format, so that one accepted case cannot make the
        next one fail with "already exists"."""
        name = "victim-" + ext.strip(".").replace(".", "-")
        members = [("./model.yaml", "file", model_yaml(name, "v1")),
                   ("./weights.bin", "file", random_bytes(weights_size, 7)), OK_FILE]
        return write_tar(self.path("victim" + ext), members, mode)

    def test_truncated(self):
        for mode, ext in (("w:xz", ".bentomodel"), ("w:gz", ".tar.gz"), ("w", ".tar")):
            full = self.victim(mode, ext)
            size = os.path.getsize(full)
            # A plain tar's last bytes are end-of-archive padding: cut it inside data instead.
            for cut in (size // 2, size - 1 if ext != ".tar" else 700):
                what = "%s cut to %d of %d bytes" % (ext, cut, size)
                with self.subTest(what):
                    self.refused(damaged(full, self.path("cut%d%s" % (cut, ext)), cut=cut),
                                 self.DAMAGE_WORDS, what)

    def test_damage_inside_a_large_member(self):
        # Members of 8 MiB and more are decompressed on a second thread, ahead of the chunking:
        # its failure must reach the import all the same.
        for mode, ext in (("w:xz", ".bentomodel"), ("w:gz", ".tar.gz")):
            full = self.victim(mode, ext, weights_size=20 * MiB)
            size = os.path.getsize(full)
            for kind, what, kwargs in (
                    ("cut", "cut to %d of %d bytes" % (size // 2, size), {"cut": size // 2}),
                    ("flip", "16 bytes flipped at %d" % (size * 3 // 4), {"flip": size * 3 // 4})):
                what = "%s with 20 MiB of weights %s" % (ext, what)
                with self.subTest(what):
                    out = damaged(full, self.path("large-" + kind + ext), **kwargs)
                    self.refused(out, self.DAMAGE_WORDS, what)

    def test_corrupt_compressed_data(self):
        for mode, ext in (("w:xz", ".bentomodel"), ("w:gz", ".tar.gz")):
            full = self.victim(mode, ext)
            what = "%s with 16 bytes flipped in the middle" % ext
            with self.subTest(what):
                out = damaged(full, self.path("flip" + ext), flip=os.path.getsize(full) // 2)
                self.refused(out, self.DAMAGE_WORDS, what)
        # zip stores big members uncompressed: only the CRC can tell.
        z = write_zip(self.path("victim.zip"), [("model.yaml", model_yaml("victim-zip", "v1")),
                                                ("weights.bin", random_bytes(1 * MiB, 8))])
        with self.subTest("zip with flipped bytes"):
            self.refused(damaged(z, self.path("flip.zip"), flip=os.path.getsize(z) // 2),
                         self.DAMAGE_WORDS + ["crc", "checksum"], "zip with flipped bytes")

    def test_corrupt_tar_zst_of_our_export(self):
        # Our .tar.zst must carry zstd content checksums, or damage cannot be detected.
        home2 = self.path("home2")
        self.saved_model("victim-zst:v1", weights_size=1 * MiB, home=home2)
        path = self.export("victim-zst:v1", self.path("ours.tar.zst"), home=home2)
        out = damaged(path, self.path("flip.tar.zst"), flip=os.path.getsize(path) // 2)
        self.refused(out, self.DAMAGE_WORDS + ["checksum"], "our .tar.zst with flipped bytes")

    def test_garbage_files(self):
        words = self.DAMAGE_WORDS + ["archive", "format", "recogni"]
        for name in ("garbage.bentomodel", "garbage.tar.gz", "garbage.zip", "garbage"):
            with self.subTest(name):
                path = self.path(name)
                with open(path, "wb") as f:
                    f.write(random_bytes(256 * KiB, len(name)))
                self.refused(path, words, name)
        with self.subTest("empty file"):
            open(self.path("empty.tar"), "wb").close()
            self.refused(self.path("empty.tar"), words + ["empty", "no model.yaml"], "empty file")
        with self.subTest("missing source"):
            self.refused(self.path("nope.bentomodel"), ["nope.bentomodel", "not exist", "no such"],
                         "a missing file")


@needs_root
class ArchiveDiskFullTest(ArchiveTestCase):
    """A store on a 64 MiB tmpfs; exports to a 2 MiB tmpfs."""

    def small_store(self):
        """A store on a 64 MiB tmpfs holding one small model; returns the mount point, the
        store's snapshot and the bytes used."""
        mnt = self.mount_tmpfs("store", "64m")
        self.home = os.path.join(mnt, "home")
        self.saved_model("existing:v1", weights_size=512 * KiB)
        return mnt, self.snapshot(), used_bytes(mnt)

    def test_member_larger_than_free_disk_is_refused(self):
        mnt, before, used_before = self.small_store()
        path = self.path("zeros.tar.gz")
        with tarfile.open(path, "w:gz", compresslevel=1) as tf, open("/dev/zero", "rb") as zero:
            info = tarfile.TarInfo("./model.yaml")
            info.size = len(YAML[2])
            tf.addfile(info, io.BytesIO(YAML[2]))
            info = tarfile.TarInfo("./zeros.bin")
            info.size = 100 * MiB
            tf.addfile(info, zero)
        self.assertLess(os.path.getsize(path), 1 * MiB)
        self.fails("models", "import", path, contains=["free disk", "space", "zeros.bin"])
        self.assert_unchanged(before, what="after importing a 100 MiB member into a 64 MiB disk")
        self.assertLess(used_bytes(mnt), used_before + 4 * MiB)

    def test_disk_filling_up_during_an_import(self):
        # Each member fits in the free space, both do not: the disk fills up in the middle of
        # the second one, while the archive is read ahead on another thread.
        mnt, before, used_before = self.small_store()
        path = write_tar(self.path("two.tar"), [YAML, ("./a.bin", "file", random_bytes(40 * MiB, 1)),
                                                ("./b.bin", "file", random_bytes(40 * MiB, 2))])
        self.fails("models", "import", path, contains=["space", "ENOSPC", "disk full"])
        self.assert_unchanged(before, what="after an import that filled the disk")
        self.ok("cache", "gc")
        self.assertLess(used_bytes(mnt), used_before + 4 * MiB)

    def test_export_to_full_disk_leaves_nothing(self):
        self.saved_model("big:v1", weights_size=5 * MiB)
        out = self.mount_tmpfs("out", "2m")
        for fmt in ("bentomodel", "tar", "zip", "folder"):
            with self.subTest(fmt):
                self.fails("models", "export", "big:v1", os.path.join(out, "big-" + fmt),
                           "--format", fmt, contains=["space", "ENOSPC", "disk full"])
                self.assertEqual([], list_dir(out), "left behind after a failed %s export" % fmt)
                self.assertLess(used_bytes(out), 64 * KiB)


if __name__ == "__main__":
    unittest.main()
