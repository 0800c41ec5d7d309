"""`modelfs models export` / `models import`: round trips through every format, archives that
Python's tarfile/zipfile/shutil read and write, destination rules, dedup, and the mounted store.

Hostile archives (path traversal, links, devices, damaged data, disk full) are in
test_archive_hostile.py, which reuses ArchiveTestCase from here.
"""

import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import unittest
import zipfile

from harness import (KiB, MiB, STATS_KEYS, ModelfsTestCase, make_tree, manifest, poll,
                     sha256_file)

EXPORTED_RE = re.compile(r'^Model\(tag="([^"]+)"\) exported to (.+)\.\s*$', re.M)
IMPORTED_RE = re.compile(r'^Model\(tag="([^"]+)"\) imported\.\s*$', re.M)
SKIPPED_RE = re.compile(r'^Model\(tag="([^"]+)"\) already exists; skipped\.\s*$', re.M)
PARTIAL_RE = re.compile(r"^\..*\.partial-")

# --format name -> (file extension, shutil archive format, magic bytes at offset 0 or None)
FORMATS = {
    "bentomodel": (".bentomodel", "xztar", b"\xfd7zXZ\x00"),
    "tar": (".tar", "tar", None),
    "tar.gz": (".tar.gz", "gztar", b"\x1f\x8b"),
    "tar.zst": (".tar.zst", None, b"\x28\xb5\x2f\xfd"),
    "zip": (".zip", "zip", b"PK\x03\x04"),
}

WEIGHTS = "weights.bin"
UNICODE_NAME = "données/模型 ü.txt"
needs_fuse = unittest.skipUnless(os.path.exists("/dev/fuse"), "no /dev/fuse")


def make_model_src(root, weights_size=5 * MiB, unicode_name=True):
    """A model directory: random weights, a config, nested/empty dirs, an empty file, an executable
    and (optionally) a unicode file name."""
    files = {
        WEIGHTS: weights_size,
        "config.json": b'{"hidden_size": 768, "layers": 12}\n',
        "sub/dir/x.txt": b"nested\n",
        "empty.txt": b"",
        "bin/run.sh": b"#!/bin/sh\necho run\n",
    }
    if unicode_name:
        files[UNICODE_NAME] = "données — 模型\n".encode()
    make_tree(root, files=files, dirs=["empty_dir"])
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            os.chmod(os.path.join(dirpath, n), 0o644)
    os.chmod(os.path.join(root, "bin/run.sh"), 0o755)
    return root


def model_yaml(name, version, labels=None, metadata=None):
    """A model.yaml as BentoML (and `models export`) writes it."""
    lines = ["name: %s" % name, "version: %s" % version, "module: ''"]
    for key, d in (("labels", labels), ("options", None), ("metadata", metadata)):
        if d:
            lines.append("%s:" % key)
            lines += ["  %s: %s" % kv for kv in d.items()]
        else:
            lines.append("%s: {}" % key)
    lines += ["context:", "  framework_name: ''", "  framework_versions: {}",
              "  bentoml_version: ''", "  python_version: ''", "signatures: {}", "api_version: v1",
              "creation_time: '2024-05-01T12:00:00.000000+00:00'", ""]
    return "\n".join(lines).encode()


def add_tar_member(tf, name, kind="file", data=b"", link="", mode=None):
    """Adds one member to an open tarfile: kind is file, dir, symlink, hardlink, fifo, chr, blk."""
    info = tarfile.TarInfo(name)
    info.mtime = 1700000000
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                 "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE,
                 "blk": tarfile.BLKTYPE}[kind]
    info.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    info.linkname = link
    if kind in ("chr", "blk"):
        info.devmajor, info.devminor = 1, 3
    if kind == "file":
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        tf.addfile(info)


def write_tar(path, members, mode="w"):
    """Writes a tar (mode "w", "w:gz", "w:xz") from [(name, kind, data_or_link)] tuples."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            name, kind = m[0], m[1]
            arg = m[2] if len(m) > 2 else b""
            if kind in ("symlink", "hardlink"):
                add_tar_member(tf, name, kind, link=arg)
            else:
                add_tar_member(tf, name, kind, data=arg)
    return path


def list_dir(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


class ArchiveTestCase(ModelfsTestCase):
    """Export/import helpers and the "store unchanged" snapshot."""

    def export(self, tag, dest, *extra, home=None, cwd=None):
        """Runs `models export`, checks its message, returns the absolute path it reports."""
        r = self.ok("models", "export", tag, *([dest] if dest is not None else []), *extra,
                    home=home, cwd=cwd)
        m = EXPORTED_RE.search(r.text)
        self.assertIsNotNone(m, 'expected `Model(tag="...") exported to PATH.`:\n' + r.describe())
        self.assertEqual(tag, m.group(1))
        path = m.group(2)
        self.assertTrue(os.path.isabs(path), "exported path not absolute:\n" + r.describe())
        self.assertTrue(os.path.exists(path), "reported path does not exist:\n" + r.describe())
        self.assert_no_partials(os.path.dirname(path))
        return path

    def import_(self, source, *extra, home=None):
        """Runs `models import`, checks the message, returns the tag."""
        r = self.ok("models", "import", source, *extra, home=home)
        m = IMPORTED_RE.search(r.text)
        self.assertIsNotNone(m, 'expected `Model(tag="...") imported.`:\n' + r.describe())
        return m.group(1)

    def assert_no_partials(self, d, after=None):
        left = [n for n in list_dir(d) if PARTIAL_RE.match(n)]
        self.assertEqual([], left, "partial files left in %s%s" % (
            d, " after:\n" + after.describe() if after else ""))

    def snapshot(self, home=None, gc=True):
        """list -o json, files of every model and (after gc) the stats counters."""
        if gc:
            self.ok("cache", "gc", home=home)
        st = self.stats(home=home)
        models = sorted(self.list_json(home=home), key=lambda m: m["tag"])
        return {"list": models,
                "files": {m["tag"]: self.files(m["tag"], home=home) for m in models},
                "stats": {k: st[k] for k in STATS_KEYS}}

    def assert_unchanged(self, before, home=None, what=""):
        """Same list and files; same stats at once or after `cache gc` (garbage may be left)."""
        after = self.snapshot(home=home, gc=False)
        self.assertEqual(before["list"], after["list"], "model list changed " + what)
        self.assertEqual(before["files"], after["files"], "models files changed " + what)
        if after["stats"] != before["stats"]:
            after = self.snapshot(home=home)
        self.assertEqual(before["stats"], after["stats"], "cache stats (after gc) changed " + what)

    def assert_same_model(self, tag, home_a, home_b):
        """get -o json and files -o json equal in both stores, and `models cat` of every file in
        home_b gives the sha256 home_a lists.  Returns the files of home_b."""
        self.assertEqual(self.get_json(tag, home=home_a), self.get_json(tag, home=home_b))
        files_a, files_b = self.files(tag, home=home_a), self.files(tag, home=home_b)
        self.assertEqual(files_a, files_b, "models files differ")
        for p, e in files_a.items():
            if e["type"] == "file":
                rc, digest, n, err = self.cat_sha256(tag, p, home=home_b)
                self.assertEqual((0, e["sha256"], e["size"]), (rc, digest, n),
                                 "models cat %s %s: %s" % (tag, p, err))
        return files_b

    def saved_model(self, tag="demo:v1", unicode_name=False, weights_size=1 * MiB, home=None):
        src = make_model_src(self.path("src-" + tag.replace(":", "-")), weights_size, unicode_name)
        self.save(tag, src, "--label", "team=nlp", "--metadata", "acc=1", home=home)
        return src


class RoundTripTest(ArchiveTestCase):
    """Save, export, import into a fresh store: get, files and every byte equal."""

    def round_trip(self, fmt):
        src = make_model_src(self.path("src"))
        want = manifest(src)
        tag = self.save("roundtrip:v1", src, "--label", "k=v", "--metadata", "m=1")
        if fmt == "folder":
            path = self.export(tag, self.path("exported"), "--format", fmt)
            self.assertEqual(self.path("exported"), path)
            self.assertEqual(want["files"], manifest(path, exclude=("model.yaml",))["files"])
            self.assertTrue(os.path.isdir(os.path.join(path, "empty_dir")))
        else:
            os.makedirs(self.path("out"))
            path = self.export(tag, self.path("out"), "--format", fmt)
            self.assertEqual(self.path("out", "roundtrip-v1" + FORMATS[fmt][0]), path)
        home2 = self.path("home2")
        self.assertEqual(tag, self.import_(path, home=home2))
        files = self.assert_same_model(tag, self.home, home2)
        self.assertNotEqual(0, files["bin/run.sh"]["mode"] & 0o111, "executable bit lost")
        self.assertEqual(0, files["config.json"]["mode"] & 0o111, "executable bit added")
        self.assert_model_matches(tag, want, home=home2)

    def test_round_trip_bentomodel(self):
        self.round_trip("bentomodel")

    def test_round_trip_tar(self):
        self.round_trip("tar")

    def test_round_trip_tar_gz(self):
        self.round_trip("tar.gz")

    def test_round_trip_tar_zst(self):
        self.round_trip("tar.zst")

    def test_round_trip_zip(self):
        self.round_trip("zip")

    def test_round_trip_folder(self):
        self.round_trip("folder")


class PythonReadsOurArchivesTest(ArchiveTestCase):
    """Our exports are ordinary archives: tarfile, zipfile, shutil, xz and zstd accept them."""

    def setUp(self):
        super().setUp()
        self.src = self.saved_model(unicode_name=False)
        self.want = manifest(self.src)
        os.makedirs(self.path("out"))
        self.paths = {}

    def exported(self, fmt):
        if fmt not in self.paths:
            self.paths[fmt] = self.export("demo:v1", self.path("out"), "--format", fmt)
        return self.paths[fmt]

    def assert_extracted(self, d):
        got = manifest(d, exclude=("model.yaml",))
        self.assertEqual(self.want["files"].keys(), got["files"].keys())
        for p, w in self.want["files"].items():
            self.assertEqual(w["sha256"], got["files"][p]["sha256"], p)
        self.assertEqual(self.want["dirs"], got["dirs"])
        with open(os.path.join(d, "model.yaml")) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^name: *demo$")
        self.assertRegex(text, r"(?m)^version: *v1$")

    def test_tarfile_lists_and_extracts(self):
        for fmt in ("bentomodel", "tar", "tar.gz"):
            with self.subTest(fmt=fmt), tarfile.open(self.exported(fmt), "r:*") as tf:
                names = tf.getnames()
                self.assertIn(names[0], (".", "./"), names)
                self.assertEqual("./model.yaml", names[1], names)
                self.assertTrue(all(n.startswith("./") for n in names[1:]), names)
                self.assertEqual(len(names), len(set(names)), "duplicate members")
                want = {"./" + p for p in list(self.want["files"]) + list(self.want["dirs"])}
                self.assertEqual(want | {"./model.yaml"}, set(names[1:]))
                self.assertLess(names.index("./sub"), names.index("./sub/dir"))
                self.assertLess(names.index("./sub/dir"), names.index("./sub/dir/x.txt"))
                self.assertTrue(tf.getmember("./bin/run.sh").mode & 0o100)
                d = self.path("x-" + fmt)
                tf.extractall(d, filter="data")
                self.assert_extracted(d)

    def test_shutil_unpack_archive(self):
        for fmt in ("bentomodel", "tar", "tar.gz", "zip"):
            with self.subTest(fmt=fmt):
                d = self.path("u-" + fmt)
                shutil.unpack_archive(self.exported(fmt), d, format=FORMATS[fmt][1])
                self.assert_extracted(d)

    def test_bentomodel_is_xz_and_python_lzma_reads_it(self):
        path = self.exported("bentomodel")
        r = subprocess.run(["xz", "-t", path], capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        with lzma.open(path) as f:
            data = f.read()
        self.assertEqual(b"ustar", data[257:262], "not a tar inside the xz stream")

    def test_tar_gz_is_gzip(self):
        with gzip.open(self.exported("tar.gz")) as f:
            self.assertEqual(b"ustar", f.read(512)[257:262])

    def test_tar_zst_passes_zstd_t_and_untars(self):
        if not shutil.which("zstd"):
            self.skipTest("no zstd")
        path = self.exported("tar.zst")
        r = subprocess.run(["zstd", "-t", "-q", path], capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        d = self.path("zst")
        os.makedirs(d)
        r = subprocess.run(["tar", "--zstd", "-xf", path, "-C", d], capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assert_extracted(d)

    def test_zip_members_and_testzip(self):
        with zipfile.ZipFile(self.exported("zip")) as z:
            self.assertIsNone(z.testzip())
            names = z.namelist()
            self.assertEqual("model.yaml", names[0], names)
            for n in names:
                self.assertFalse(n.startswith(("./", "/")) or n in ("", "."), names)
            self.assertIn("empty_dir/", names)
            self.assertEqual(self.want["files"][WEIGHTS]["sha256"],
                             hashlib.sha256(z.read(WEIGHTS)).hexdigest())
            self.assertTrue((z.getinfo("bin/run.sh").external_attr >> 16) & 0o100)

    def test_unicode_file_names_read_by_python(self):
        # A top-level file (the round trips also have a unicode directory name).
        name = "模型 ü.txt"
        src = make_tree(self.path("usrc"), files={name: b"unicode\n", "a.txt": b"a"})
        self.save("uni:v1", src)
        for fmt in ("bentomodel", "tar", "tar.gz", "tar.zst", "zip"):
            with self.subTest(fmt=fmt):
                out = self.path("out-" + fmt)
                os.makedirs(out)
                r = self.mf("models", "export", "uni:v1", out, "--format", fmt)
                self.assert_no_partials(out, after=r)
                self.assertEqual(0, r.rc, r.describe())
                path = EXPORTED_RE.search(r.text).group(2)
                if fmt == "zip":
                    with zipfile.ZipFile(path) as z:
                        self.assertIn(name, z.namelist(), "zip member name not flagged as UTF-8")
                elif fmt != "tar.zst":
                    with tarfile.open(path, "r:*") as tf:
                        self.assertIn("./" + name, tf.getnames())


class PythonMadeArchivesTest(ArchiveTestCase):
    """Archives made by shutil.make_archive from a BentoML-style model folder import."""

    def python_archive(self, archive_format, name):
        d = make_model_src(self.path("py-" + name), 1 * MiB, unicode_name=False)
        make_tree(d, files={"model.yaml": model_yaml(name, "py1", {"team": "cv"}, {"acc": 0.5})})
        want = manifest(d, exclude=("model.yaml",))
        base = self.path("arch-" + name)
        path = shutil.make_archive(base, archive_format, root_dir=d)
        if archive_format == "xztar":
            os.rename(path, base + ".bentomodel")
            path = base + ".bentomodel"
        return path, want

    def check(self, archive_format):
        name = "py-" + archive_format
        path, want = self.python_archive(archive_format, name)
        tag = self.import_(path)
        self.assertEqual(name + ":py1", tag)
        self.assert_model_matches(tag, want, read_back=True)
        rec = self.get_json(tag)
        self.assertEqual({"team": "cv"}, rec["labels"])
        self.assertEqual("0.5", str(rec["metadata"]["acc"]))
        self.assertNotIn("model.yaml", self.files(tag), "model.yaml stored as a file")

    def test_make_archive_xztar_as_bentomodel(self):
        self.check("xztar")

    def test_make_archive_gztar(self):
        self.check("gztar")

    def test_make_archive_tar(self):
        self.check("tar")

    def test_make_archive_zip(self):
        self.check("zip")

    def test_tar_xz_extension_and_folder(self):
        path, want = self.python_archive("xztar", "plain-xz")
        os.rename(path, self.path("plain.tar.xz"))
        self.assert_model_matches(self.import_(self.path("plain.tar.xz")), want)
        d = make_model_src(self.path("folder-src"), 64 * KiB, unicode_name=False)
        make_tree(d, files={"model.yaml": model_yaml("from-folder", "f1")})
        self.assertEqual("from-folder:f1", self.import_(d))
        self.assert_model_matches("from-folder:f1", manifest(d, exclude=("model.yaml",)),
                                  read_back=True)

    def test_symlink_inside_model_becomes_a_file(self):
        data = os.urandom(10 * KiB)
        path = write_tar(self.path("links.tar"), [
            ("./", "dir"), ("./model.yaml", "file", model_yaml("links", "v1")),
            ("./w.bin", "file", data), ("./sub", "dir"),
            ("./sub/link.bin", "symlink", "../w.bin"), ("./abs-ish", "symlink", "w.bin")])
        self.assertEqual("links:v1", self.import_(path))
        entries = self.files("links:v1")
        for p in ("w.bin", "sub/link.bin", "abs-ish"):
            self.assertEqual("file", entries[p]["type"], p)
            self.assertEqual(data, self.cat("links:v1", p), p)

    def test_hardlink_to_member_becomes_a_file(self):
        data = os.urandom(10 * KiB)
        path = write_tar(self.path("hard.tar"), [
            ("./model.yaml", "file", model_yaml("hard", "v1")), ("./w.bin", "file", data),
            ("./copy.bin", "hardlink", "./w.bin")])
        self.assertEqual("hard:v1", self.import_(path))
        self.assertEqual(data, self.cat("hard:v1", "copy.bin"))

    def test_zip_symlink_inside_model_becomes_a_file(self):
        # Info-ZIP stores a symlink as an entry with mode S_IFLNK whose data is the target.
        path = self.path("links.zip")
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("model.yaml", model_yaml("ziplinks", "v1"))
            z.writestr("w.bin", b"weights\n")
            info = zipfile.ZipInfo("link.bin")
            info.external_attr = 0o120777 << 16
            z.writestr(info, b"w.bin")
        self.assertEqual("ziplinks:v1", self.import_(path))
        self.assertEqual(b"weights\n", self.cat("ziplinks:v1", "link.bin"),
                         "a zip symlink must be followed, not stored as a file holding its target")


class ImportTwiceAndDedupTest(ArchiveTestCase):

    def setUp(self):
        super().setUp()
        self.src = self.saved_model()
        os.makedirs(self.path("out"))
        self.archive = self.export("demo:v1", self.path("out"), "--format", "tar.gz")
        self.home2 = self.path("home2")

    def test_second_import_fails_and_skip_existing_skips(self):
        self.import_(self.archive, home=self.home2)
        before = self.snapshot(home=self.home2)
        r = self.fails("models", "import", self.archive, home=self.home2, contains="already exists")
        self.assertNotIn("imported", r.text)
        self.assert_unchanged(before, home=self.home2, what="after a refused second import")
        r = self.ok("models", "import", self.archive, "--skip-existing", home=self.home2)
        m = SKIPPED_RE.search(r.text)
        self.assertIsNotNone(m, r.describe())
        self.assertEqual("demo:v1", m.group(1))
        self.assert_unchanged(before, home=self.home2, what="after --skip-existing")

    def test_import_into_store_holding_the_same_weights_costs_no_pack_bytes(self):
        # The other store saved the same weights directory under another tag.
        self.save("other:v9", self.src, home=self.home2)
        before = self.stats(home=self.home2)["pack_bytes"]
        self.import_(self.archive, home=self.home2)
        grown = self.stats(home=self.home2)["pack_bytes"] - before
        weights = os.path.getsize(os.path.join(self.src, WEIGHTS))
        self.assertLess(grown, 0.01 * weights, "import grew the packs by %d bytes" % grown)
        self.assert_same_model("demo:v1", self.home, self.home2)


class ExportDestinationTest(ArchiveTestCase):

    def setUp(self):
        super().setUp()
        self.saved_model(weights_size=64 * KiB)
        self.out = self.path("out")
        os.makedirs(self.out)

    def test_export_of_a_stored_model_leaves_the_index_untouched(self):
        """Every file is stored, so the export opens the store read-only: no write-ahead
        log, MANIFEST or table file of the index is created or changed."""
        index = os.path.join(self.home, "index")

        def snapshot():
            return {n: (st.st_size, st.st_mtime_ns) for n in os.listdir(index)
                    if not n.startswith("LOG")
                    for st in [os.stat(os.path.join(index, n))]}
        before = snapshot()
        self.export("demo:v1", os.path.join(self.out, "ro.tar.zst"))
        self.assertEqual(before, snapshot())

    def test_default_destination_is_the_current_directory(self):
        path = self.export("demo:v1", None, cwd=self.out)
        self.assertEqual(os.path.join(self.out, "demo-v1.bentomodel"), path)
        self.assertEqual(["demo-v1.bentomodel"], list_dir(self.out))
        os.remove(path)
        self.assertEqual(path, self.export("demo:v1", ".", cwd=self.out))

    def test_directory_destination_gets_name_version_and_extension(self):
        for fmt, (ext, _, magic) in FORMATS.items():
            with self.subTest(fmt=fmt):
                path = self.export("demo:v1", self.out, "--format", fmt)
                self.assertEqual(os.path.join(self.out, "demo-v1" + ext), path)
                if magic:
                    with open(path, "rb") as f:
                        self.assertEqual(magic, f.read(len(magic)))

    def test_known_extension_picks_the_format(self):
        for fname, fmt in (("a.bentomodel", "bentomodel"), ("b.tar", "tar"), ("c.tar.gz", "tar.gz"),
                           ("d.tgz", "tar.gz"), ("e.tar.zst", "tar.zst"), ("f.zip", "zip")):
            with self.subTest(fname=fname):
                path = self.export("demo:v1", os.path.join(self.out, fname))
                self.assertEqual(os.path.join(self.out, fname), path)
                magic = FORMATS[fmt][2]
                with open(path, "rb") as f:
                    head = f.read(512)
                if magic:
                    self.assertEqual(magic, head[:len(magic)])
                else:
                    self.assertEqual(b"ustar", head[257:262])

    def test_extension_is_appended_when_unknown(self):
        path = self.export("demo:v1", os.path.join(self.out, "mymodel"), "--format", "tar")
        self.assertEqual(os.path.join(self.out, "mymodel.tar"), path)
        self.assertEqual(os.path.join(self.out, "model.v2.bentomodel"),
                         self.export("demo:v1", os.path.join(self.out, "model.v2")))

    def test_extension_conflicting_with_format_is_an_error(self):
        self.fails("models", "export", "demo:v1", os.path.join(self.out, "x.zip"), "--format",
                   "tar", contains=["zip", "format"])
        self.fails("models", "export", "demo:v1", os.path.join(self.out, "x.tar.gz"), "--format",
                   "bentomodel", contains=["tar.gz", "format"])
        self.assertEqual([], list_dir(self.out))

    def test_existing_file_refused_without_force_and_replaced_with_it(self):
        target = os.path.join(self.out, "demo.tar")
        make_tree(self.out, files={"demo.tar": b"old contents"})
        self.fails("models", "export", "demo:v1", target, contains=["exists", "force"])
        with open(target, "rb") as f:
            self.assertEqual(b"old contents", f.read())
        self.assertEqual(["demo.tar"], list_dir(self.out))
        for flag in ("-f", "--force"):
            self.assertEqual(target, self.export("demo:v1", target, flag))
            with tarfile.open(target) as tf:
                self.assertIn("./model.yaml", tf.getnames())
        self.assertEqual(["demo.tar"], list_dir(self.out))

    def test_failed_exports_leave_no_partial_files(self):
        self.fails("models", "export", "demo:v1", os.path.join(self.out, "nodir", "x.tar"),
                   contains="does not exist")
        self.fails("models", "export", "demo:v1", os.path.join(self.out, "nodir") + "/",
                   contains="does not exist")
        self.fails("models", "export", "nosuch:v1", self.out)
        self.fails("models", "export", "nosuch:v1", os.path.join(self.out, "n.zip"))
        self.fails("models", "export", "nosuch:v1", os.path.join(self.out, "f"), "--format",
                   "folder")
        self.assertEqual([], list_dir(self.out))

    def test_unknown_format_and_unknown_tag(self):
        self.fails("models", "export", "demo:v1", self.out, "--format", "rar", contains="rar")
        self.fails("models", "export", "demo:v2", self.out)
        self.fails("models", "export", "nosuch", self.out)
        self.fails("models", "export", "Bad Name!", self.out)
        self.assertEqual([], list_dir(self.out))

    def test_folder_destination_rules(self):
        fresh = os.path.join(self.out, "fresh")
        self.assertEqual(fresh, self.export("demo:v1", fresh, "--format", "folder"))
        self.assertIn("model.yaml", list_dir(fresh))
        empty = os.path.join(self.out, "empty")
        os.makedirs(empty)
        self.assertEqual(empty, self.export("demo:v1", empty, "--format", "folder"))
        self.assertIn("model.yaml", list_dir(empty))
        busy = make_tree(os.path.join(self.out, "busy"), files={"keep.txt": b"keep"})
        path = self.export("demo:v1", busy, "--format", "folder")
        self.assertEqual(os.path.join(busy, "demo-v1"), path)
        self.assertEqual(["demo-v1", "keep.txt"], list_dir(busy))
        self.assertIn("model.yaml", list_dir(path))
        self.assertEqual("demo:v1", self.import_(path, home=self.path("home2")))


@needs_fuse
class MountedStoreTest(ArchiveTestCase):
    """export and import are forwarded to the mount daemon and behave the same."""

    def test_export_and_import_while_mounted(self):
        src = self.saved_model(weights_size=2 * MiB)
        mp = self.mount()
        os.makedirs(self.path("out"))
        path = self.export("demo:v1", self.path("out", "demo.bentomodel"))
        self.assertEqual("demo:v1", self.import_(path, home=self.path("home2")))
        self.assert_same_model("demo:v1", self.home, self.path("home2"))

        other = make_model_src(self.path("other-src"), 1 * MiB, unicode_name=False)
        make_tree(other, files={"model.yaml": model_yaml("imported", "m1")})
        want = manifest(other, exclude=("model.yaml",))
        arch = shutil.make_archive(self.path("other"), "gztar", root_dir=other)
        self.assertEqual("imported:m1", self.import_(arch))
        self.fails("models", "import", arch, contains="already exists")
        self.assertIn("imported:m1", self.tags())
        mdir = os.path.join(mp, "models", "imported", "m1")
        self.assertTrue(poll(lambda: os.path.isdir(mdir), timeout=5)[0], "%s did not appear" % mdir)
        for rel, w in want["files"].items():
            self.assertEqual(w["sha256"], sha256_file(os.path.join(mdir, rel)), rel)
            self.assertEqual(bool(w["mode"] & 0o111),
                             bool(os.stat(os.path.join(mdir, rel)).st_mode & 0o111), rel)
        self.assertTrue(os.path.isdir(os.path.join(mdir, "empty_dir")))
        self.assertEqual(manifest(src)["files"][WEIGHTS]["sha256"],
                         sha256_file(os.path.join(mp, "models", "demo", "v1", WEIGHTS)))
        self.ok("umount", mp)


if __name__ == "__main__":
    unittest.main()
