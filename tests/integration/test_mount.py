"""`modelfs mount`: what a real FUSE mount of a store shows and serves.

Every test makes its own store and mount point and mounts it with ModelfsTestCase.mount(), which
registers an unmount (modelfs umount, then fusermount3 -uz, then killing the daemon) that runs even
when the test fails.  Needs root or a user allowed to use /dev/fuse; skipped without /dev/fuse.
"""

import errno
import hashlib
import json
import mmap
import os
import random
import stat
import subprocess
import threading
import time
import unittest
from datetime import datetime

from harness import (DELETED_RE, KiB, MiB, ModelfsTestCase, errno_of, make_tree, manifest, poll,
                     seed_from_env, sha256_bytes, sha256_file, write_random)

needs_fuse = unittest.skipUnless(os.path.exists("/dev/fuse"), "no /dev/fuse")

BIG = "weights/model.safetensors"
BIG_SIZE = 64 * MiB
EXEC = "bin/run.sh"
UNICODE = "unicodé/模型 😀.txt"

TAR = ["tar", "-c", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
       "--mode=a-w", "--exclude=./model.yaml"]


def make_mount_source(root, big_size=BIG_SIZE):
    """A model directory exercising the tree: nested and empty directories, an empty file, an
    executable, a unicode name, odd sizes and one big random file.  Modes are 0644 for files, 0755
    for executables and directories, so that `tar --mode=a-w` of it equals a tar of the mount."""
    files = {
        "config.json": b'{"architectures": ["Toy"], "hidden_size": 8}\n',
        "tokenizer/vocab.txt": b"".join(b"tok%d\n" % i for i in range(5000)),
        "a/b/c/deep.bin": 3 * MiB + 17,
        "a/page.bin": 4097,
        "a/b/one.bin": 1,
        "zero.bin": b"",
        EXEC: b"#!/bin/sh\necho run\n",
        UNICODE: "données — 模型\n".encode("utf-8"),
        "with space.txt": b"spaced out\n",
    }
    make_tree(root, files=files, dirs=["empty", "a/empty-too"])
    write_random(os.path.join(root, BIG), big_size)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for n in filenames:
            os.chmod(os.path.join(dirpath, n), 0o644)
    os.chmod(os.path.join(root, EXEC), 0o755)
    return root


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


@needs_fuse
class MountTestCase(ModelfsTestCase):
    """Helpers shared by the mount tests."""

    def vdir(self, mp, name, version):
        return os.path.join(mp, "models", name, version)

    def split_tag(self, tag):
        name, _, version = tag.partition(":")
        return name, version

    def mounted_dir(self, mp, tag):
        return self.vdir(mp, *self.split_tag(tag))

    def assert_tree_equals_source(self, mounted, want):
        """sha256, size and executable bit of every file, and every directory, as in the source."""
        got = manifest(mounted, exclude=("model.yaml",))
        self.assertEqual(sorted(want["dirs"]), sorted(got["dirs"]), "directories in the mount")
        self.assertEqual(sorted(want["files"]), sorted(got["files"]), "files in the mount")
        for p, w in want["files"].items():
            g = got["files"][p]
            self.assertEqual(w["size"], g["size"], "size of %s through the mount" % p)
            self.assertEqual(w["sha256"], g["sha256"], "sha256 of %s through the mount" % p)
            self.assertEqual(bool(w["mode"] & 0o111), bool(g["mode"] & 0o111),
                             "executable bit of %s" % p)


class MountTreeTest(MountTestCase):

    def test_tree_latest_symlink_and_attributes(self):
        src = make_tree(self.path("src"), files={"w.bin": 100 * KiB, "x/y.txt": b"y\n",
                                                 "run": b"#!/bin/sh\n"}, dirs=["e"],
                        modes={"run": 0o755})
        self.save("m:v1", src)
        self.save("m:v2", src)
        self.save("other:only", src)
        mp = self.mount()
        self.assertTrue(os.path.isfile(os.path.join(self.home, "mount.log")),
                        "the background daemon logs to HOME/mount.log")
        self.daemon_pid()  # exactly one daemon serves the store, in the background
        # Ready on return: no waiting allowed.
        self.assertEqual(["models"], os.listdir(mp))
        self.assertEqual(["m", "other"], sorted(os.listdir(os.path.join(mp, "models"))))
        mdir = os.path.join(mp, "models", "m")
        self.assertEqual(["latest", "v1", "v2"], sorted(os.listdir(mdir)))
        latest = os.path.join(mdir, "latest")
        self.assertTrue(os.path.islink(latest), "models/m/latest must be a symlink")
        self.assertEqual("v2", os.readlink(latest), "latest points to the newest version by "
                         "a relative link holding just the version")
        self.assertEqual(os.path.realpath(os.path.join(mdir, "v2")), os.path.realpath(latest))
        self.assertEqual("m:v2", os.getxattr(os.path.join(latest, "w.bin"),
                                             "user.modelfs.tag").decode())
        self.assertEqual("only", os.readlink(os.path.join(mp, "models", "other", "latest")))
        self.assertEqual(sorted(["e", "model.yaml", "run", "w.bin", "x"]),
                         sorted(os.listdir(os.path.join(mdir, "v1"))))
        self.assertEqual([], os.listdir(os.path.join(mdir, "v1", "e")))

        # Modes: 0444 files, 0555 executables and directories.
        for rel, kind, mode in (("", stat.S_IFDIR, 0o555), ("models", stat.S_IFDIR, 0o555),
                                ("models/m", stat.S_IFDIR, 0o555),
                                ("models/m/v1", stat.S_IFDIR, 0o555),
                                ("models/m/v1/e", stat.S_IFDIR, 0o555),
                                ("models/m/v1/x", stat.S_IFDIR, 0o555),
                                ("models/m/v1/w.bin", stat.S_IFREG, 0o444),
                                ("models/m/v1/x/y.txt", stat.S_IFREG, 0o444),
                                ("models/m/v1/model.yaml", stat.S_IFREG, 0o444),
                                ("models/m/v1/run", stat.S_IFREG, 0o555)):
            st = os.lstat(os.path.join(mp, rel))
            self.assertEqual(kind, stat.S_IFMT(st.st_mode), "file type of %r" % rel)
            self.assertEqual(oct(mode), oct(stat.S_IMODE(st.st_mode)), "mode of %r" % rel)
        self.assertEqual(100 * KiB, os.stat(os.path.join(mdir, "v1", "w.bin")).st_size)
        self.assertTrue(os.access(os.path.join(mdir, "v1", "run"), os.X_OK))

        # mtime of a version's contents is the model's creation time.
        for v in ("v1", "v2"):
            created = parse_time(self.get_json("m:" + v)["creation_time"])
            for rel in ("", "model.yaml", "w.bin", "x", "x/y.txt", "e", "run"):
                st = os.stat(os.path.join(mdir, v, rel))
                self.assertAlmostEqual(created, st.st_mtime, delta=0.001,
                                       msg="mtime of m:%s/%s" % (v, rel))

        # Inode numbers: stable across lookups, distinct between files.
        paths = [os.path.join(mdir, v, r) for v in ("v1", "v2") for r in ("w.bin", "x/y.txt",
                                                                          "model.yaml", "x")]
        inos = [os.stat(p).st_ino for p in paths]
        self.assertEqual(len(set(inos)), len(inos), "distinct files share an inode number")
        self.assertEqual(inos, [os.stat(p).st_ino for p in paths], "inode numbers changed")
        st = os.statvfs(mp)
        self.assertGreater(st.f_bsize, 0)

    def test_latest_file_option(self):
        src = make_tree(self.path("src"), files={"w.bin": 10 * KiB})
        self.save("m:v1", src)
        self.save("m:v2", src)
        mp = self.mount(None, "--latest-file")
        latest = os.path.join(mp, "models", "m", "latest")
        st = os.lstat(latest)
        self.assertTrue(stat.S_ISREG(st.st_mode), "with --latest-file, latest is a regular file")
        self.assertEqual(0o444, stat.S_IMODE(st.st_mode))
        with open(latest, "rb") as f:
            data = f.read()
        self.assertEqual(b"v2", data, "latest holds the version string (BentoML's layout)")
        self.assertEqual(len(data), st.st_size)
        self.assertEqual(["latest", "v1", "v2"], sorted(os.listdir(os.path.dirname(latest))))

    def test_model_yaml_is_byte_identical_to_get_yaml(self):
        src = make_tree(self.path("src"), files={"w.bin": 10 * KiB})
        self.save("meta:v1", src, "--label", "owner=ml-team", "--label", "stage=prod",
                  "--metadata", "acc=0.93", "--metadata", "note=héllo wörld",
                  "--module", "bentoml.transformers")
        self.save("plain:v1", src)
        want = {t: self.ok("models", "get", t, "-o", "yaml").out for t in ("meta:v1", "plain:v1")}
        mp = self.mount()
        for tag in ("meta:v1", "plain:v1"):
            with open(os.path.join(self.mounted_dir(mp, tag), "model.yaml"), "rb") as f:
                got = f.read()
            self.assertEqual(want[tag].encode("utf-8", "surrogateescape"), got,
                             "%s: model.yaml through the mount vs `get -o yaml` before mounting"
                             % tag)
            # ... and vs the same command forwarded to the daemon.
            self.assertEqual(self.ok("models", "get", tag, "-o", "yaml").out.encode(), got)
            self.assertEqual(len(got), os.stat(os.path.join(self.mounted_dir(mp, tag),
                                                            "model.yaml")).st_size)

    def test_xattrs(self):
        src = make_tree(self.path("src"), files={"w.bin": 300 * KiB, "d/e.txt": b"e\n",
                                                 "empty": b""})
        want = manifest(src)
        tag = self.save("xa:v1", src)
        mp = self.mount()
        vd = self.mounted_dir(mp, tag)
        for rel, w in want["files"].items():
            p = os.path.join(vd, rel)
            names = os.listxattr(p)
            for k in ("user.modelfs.tag", "user.modelfs.source", "user.modelfs.sha256"):
                self.assertIn(k, names, "listxattr of %s" % rel)
            self.assertEqual(tag, os.getxattr(p, "user.modelfs.tag").decode(), rel)
            self.assertEqual(w["sha256"], os.getxattr(p, "user.modelfs.sha256").decode(), rel)
            source = os.getxattr(p, "user.modelfs.source").decode()
            self.assertIn(os.path.realpath(src), source, "user.modelfs.source of %s" % rel)
        self.assertEqual(errno.ENODATA, errno_of(os.getxattr, os.path.join(vd, "w.bin"),
                                                 "user.modelfs.nonexistent"))

    def test_get_path_while_mounted(self):
        src = make_tree(self.path("src"), files={"w.bin": 10 * KiB})
        self.save("p:v1", src)
        self.save("p:v2", src)
        mp = self.mount()
        real_mp = os.path.realpath(mp)
        for tag, v in (("p:v1", "v1"), ("p:v2", "v2"), ("p", "v2"), ("p:latest", "v2")):
            out = self.ok("models", "get", tag, "-o", "path").text.strip()
            self.assertEqual(os.path.join(real_mp, "models", "p", v), out, "get %s -o path" % tag)
            self.assertTrue(os.path.isdir(out))
            self.assertIn("w.bin", os.listdir(out))

    def test_invalid_names_give_enoent(self):
        src = make_tree(self.path("src"), files={"w.bin": 1 * KiB})
        long_ok = "n" * 63
        self.save("m:v1", src)
        self.save(long_ok + ":v1", src)
        mp = self.mount()
        models = os.path.join(mp, "models")
        self.assertTrue(os.path.isdir(os.path.join(models, long_ok, "v1")),
                        "a 63-character name is valid")
        bad_names = ["M", "UPPER", "Mixed", "...", "a..", ".m", "m.", "-m", "m-", "_m", "m_",
                     "n" * 64, "x" * 200, "a b", "ü", "m:v1", "m@v1", "*", "%2e%2e"]
        for name in bad_names:
            with self.subTest(name=name):
                self.assertEqual(errno.ENOENT, errno_of(os.lstat, os.path.join(models, name)),
                                 "models/%s" % name)
        for v in ["V1", "v1.", ".v1", "-v1", "...", "v" * 64, "LATEST", "Latest"]:
            with self.subTest(version=v):
                self.assertEqual(errno.ENOENT,
                                 errno_of(os.lstat, os.path.join(models, "m", v)),
                                 "models/m/%s" % v)
        for rel in ("nope", "W.BIN", "w.bin/x", "models", "model.yml"):
            with self.subTest(path=rel):
                self.assertIn(errno_of(os.lstat, os.path.join(models, "m", "v1", rel)),
                              (errno.ENOENT, errno.ENOTDIR), "models/m/v1/%s" % rel)
        self.assertEqual(errno.ENOENT, errno_of(os.lstat, os.path.join(mp, "nothing")))
        # Lookups of bad names did not break the good ones.
        self.assertEqual(sorted(["m", long_ok]), sorted(os.listdir(models)))
        self.assertTrue(os.path.isfile(os.path.join(models, "m", "v1", "w.bin")))

    def test_writes_fail_with_erofs(self):
        src = make_tree(self.path("src"), files={"w.bin": 64 * KiB, "d/e.txt": b"e\n"})
        self.save("ro:v1", src)
        mp = self.mount()
        vd = self.vdir(mp, "ro", "v1")
        f = os.path.join(vd, "w.bin")
        before = sha256_file(f)
        outside = self.path("outside.txt")
        with open(outside, "w") as fh:
            fh.write("x")
        ops = [
            ("create in version dir", lambda: os.open(os.path.join(vd, "new"),
                                                      os.O_CREAT | os.O_WRONLY, 0o644)),
            ("create in models/", lambda: open(os.path.join(mp, "models", "new"), "wb")),
            ("create at the root", lambda: open(os.path.join(mp, "new"), "wb")),
            ("open existing O_WRONLY", lambda: os.open(f, os.O_WRONLY)),
            ("open existing O_RDWR", lambda: os.open(f, os.O_RDWR)),
            ("open existing O_APPEND", lambda: os.open(f, os.O_WRONLY | os.O_APPEND)),
            ("open existing O_TRUNC", lambda: os.open(f, os.O_WRONLY | os.O_TRUNC)),
            ("truncate", lambda: os.truncate(f, 0)),
            ("mkdir in version dir", lambda: os.mkdir(os.path.join(vd, "newdir"))),
            ("mkdir in models/", lambda: os.mkdir(os.path.join(mp, "models", "newmodel"))),
            ("mkdir of a version", lambda: os.mkdir(os.path.join(mp, "models", "ro", "v9"))),
            ("rm file", lambda: os.unlink(f)),
            ("rm model.yaml", lambda: os.unlink(os.path.join(vd, "model.yaml"))),
            ("rm latest", lambda: os.unlink(os.path.join(mp, "models", "ro", "latest"))),
            ("rmdir", lambda: os.rmdir(os.path.join(vd, "d"))),
            ("rmdir version", lambda: os.rmdir(vd)),
            ("rename", lambda: os.rename(f, os.path.join(vd, "moved"))),
            ("symlink", lambda: os.symlink("w.bin", os.path.join(vd, "link"))),
            ("hard link", lambda: os.link(f, os.path.join(vd, "hard"))),
            ("chmod file", lambda: os.chmod(f, 0o644)),
            ("chmod dir", lambda: os.chmod(vd, 0o755)),
            ("chown", lambda: os.chown(f, 1, 1)),
            ("utime", lambda: os.utime(f, (0, 0))),
            ("setxattr", lambda: os.setxattr(f, "user.test", b"1")),
            ("setxattr existing", lambda: os.setxattr(f, "user.modelfs.tag", b"evil:v1")),
            ("removexattr", lambda: os.removexattr(f, "user.modelfs.tag")),
            ("mknod fifo", lambda: os.mkfifo(os.path.join(vd, "fifo"))),
        ]
        for what, op in ops:
            with self.subTest(op=what):
                self.assertEqual(errno.EROFS, errno_of(op), "%s must fail with EROFS" % what)
        r = subprocess.run(["cp", outside, vd + "/"], capture_output=True, text=True)
        self.assertNotEqual(0, r.returncode, "cp into the mount must fail")
        self.assertIn("read-only", r.stderr.lower(), r.stderr)
        # Nothing changed.
        self.assertEqual(before, sha256_file(f))
        self.assertEqual(sorted(["d", "model.yaml", "w.bin"]), sorted(os.listdir(vd)))
        self.assertEqual(["ro"], os.listdir(os.path.join(mp, "models")))
        self.assertEqual("ro:v1", os.getxattr(f, "user.modelfs.tag").decode())


class MountContentTest(MountTestCase):

    def setUp(self):
        super().setUp()
        self.src = make_mount_source(self.path("src"))
        self.want = manifest(self.src)
        self.tag = self.save("content:v1", self.src)
        self.mp = self.mount()
        self.vd = self.mounted_dir(self.mp, self.tag)

    def test_sha256_of_every_file(self):
        self.assert_tree_equals_source(self.vd, self.want)
        # Through `latest` too.
        latest = os.path.join(self.mp, "models", "content", "latest")
        self.assertEqual(self.want["files"][UNICODE]["sha256"],
                         sha256_file(os.path.join(latest, UNICODE)))
        self.assertEqual(0, os.stat(os.path.join(self.vd, "zero.bin")).st_size)
        self.assertEqual(0o555, stat.S_IMODE(os.stat(os.path.join(self.vd, EXEC)).st_mode))
        r = subprocess.run([os.path.join(self.vd, EXEC)], capture_output=True, timeout=10)
        self.assertEqual(b"run\n", r.stdout, "the executable runs from the mount")

    def test_tar_of_mounted_version_equals_tar_of_source(self):
        def tar(d):
            r = subprocess.run(TAR + ["-C", d, "."], capture_output=True, timeout=60)
            self.assertEqual(0, r.returncode, "tar of %s: %s" % (d, r.stderr.decode()[-2000:]))
            return r.stdout

        a, b = tar(self.src), tar(self.vd)
        if a != b:
            la = subprocess.run(["tar", "-tv"], input=a, capture_output=True).stdout.decode()
            lb = subprocess.run(["tar", "-tv"], input=b, capture_output=True).stdout.decode()
            self.assertEqual(la, lb, "tar listings differ (source, mount)")
            self.fail("tar of the mount differs from tar of the source (same listing, "
                      "%d vs %d bytes)" % (len(a), len(b)))

    def test_cp_r_from_latest_is_identical(self):
        dst = self.path("copy")
        # -H: follow the `latest` symlink given on the command line.
        r = subprocess.run(["cp", "-r", "-H", os.path.join(self.mp, "models", "content",
                                                           "latest"), dst],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assert_tree_equals_source(dst, self.want)
        with open(os.path.join(dst, "model.yaml"), "rb") as f:
            self.assertEqual(self.ok("models", "get", self.tag, "-o", "yaml").out.encode(),
                             f.read())

    def test_mmap_equals_source(self):
        with open(os.path.join(self.src, BIG), "rb") as f:
            want = f.read()
        with open(os.path.join(self.vd, BIG), "rb") as f:
            m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            try:
                self.assertEqual(len(want), len(m))
                rng = random.Random(seed_from_env(7))
                for _ in range(200):
                    a = rng.randrange(0, len(want))
                    b = min(len(want), a + rng.randrange(1, 2 * MiB))
                    self.assertEqual(want[a:b], m[a:b], "mmap bytes [%d, %d)" % (a, b))
                self.assertEqual(want[-1:], m[-1:])
                self.assertEqual(sha256_bytes(want), hashlib.sha256(m).hexdigest(),
                                 "mmap of the whole file")
            finally:
                m.close()

    def test_concurrent_random_reads(self):
        with open(os.path.join(self.src, BIG), "rb") as f:
            want = f.read()
        seed = seed_from_env()
        errors = []

        def reader(i):
            rng = random.Random(seed * 31 + i)
            try:
                fd = os.open(os.path.join(self.vd, BIG), os.O_RDONLY)
                try:
                    for _ in range(150):
                        off = rng.randrange(0, len(want) + 4096)
                        size = rng.choice([1, 7, 4096, 4097, 65536, 131072 + 3,
                                           rng.randrange(1, 4 * MiB)])
                        got = os.pread(fd, size, off)
                        if got != want[off:off + size]:
                            errors.append("thread %d: pread(%d, %d) returned %d wrong bytes" % (
                                i, size, off, len(got)))
                            return
                finally:
                    os.close(fd)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("thread %d: %r" % (i, e))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "readers hung")
        self.assertEqual([], errors, "seed %d" % seed)

    def test_reads_past_eof_and_odd_offsets(self):
        for rel in (BIG, "a/page.bin", "a/b/one.bin", "zero.bin", "config.json"):
            p = os.path.join(self.vd, rel)
            size = self.want["files"][rel]["size"]
            with open(os.path.join(self.src, rel), "rb") as f:
                src = f.read()
            fd = os.open(p, os.O_RDONLY)
            try:
                for off in (size, size + 1, size + 4096, size + 10 ** 9, 2 ** 40):
                    self.assertEqual(b"", os.pread(fd, 4096, off), "%s: pread at %d" % (rel, off))
                for off in (0, 1, size // 2, max(0, size - 1)):
                    self.assertEqual(src[off:off + 100000], os.pread(fd, 100000, off),
                                     "%s: pread at %d" % (rel, off))
                self.assertEqual(b"", os.pread(fd, 0, 0))
            finally:
                os.close(fd)
            with open(p, "rb") as f:
                f.seek(size + 100)
                self.assertEqual(b"", f.read())

    def test_ls_lR(self):
        r = subprocess.run(["ls", "-lR", self.mp], capture_output=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stderr.decode(errors="replace"))
        self.assertEqual(b"", r.stderr)
        out = r.stdout.decode("utf-8", "replace")
        for name in ("model.safetensors", "deep.bin", "run.sh", "模型 😀.txt", "empty-too",
                     "latest -> v1", "model.yaml"):
            self.assertIn(name, out)
        self.assertRegex(out, r"-r--r--r-- +1 +\S+ +\S+ +%d .*model\.safetensors" % BIG_SIZE)
        self.assertRegex(out, r"-r-xr-xr-x .*run\.sh")


class MountManyFilesTest(MountTestCase):

    def test_scandir_of_10000_files(self):
        src = self.path("many")
        os.makedirs(src)
        names = set()
        for i in range(10000):
            n = "f%05d.txt" % i
            with open(os.path.join(src, n), "wb") as f:
                f.write(b"%d\n" % i)
            names.add(n)
        self.save("many:v1", src)
        mp = self.mount()
        vd = self.vdir(mp, "many", "v1")
        with os.scandir(vd) as it:
            entries = list(it)
        got = [e.name for e in entries]
        self.assertEqual(len(got), len(set(got)), "readdir returned duplicates")
        self.assertEqual(names | {"model.yaml"}, set(got))
        for e in entries[:: 997]:
            if e.name == "model.yaml":
                continue
            self.assertTrue(e.is_file())
            i = int(e.name[1:6])
            self.assertEqual(len(b"%d\n" % i), e.stat().st_size)
            with open(e.path, "rb") as f:
                self.assertEqual(b"%d\n" % i, f.read())
        self.assertEqual(len(got), len(os.listdir(vd)), "a second readdir")
        self.assertEqual(10001, len(os.listdir(os.path.join(mp, "models", "many", "latest"))))


class MountLiveTest(MountTestCase):
    """Changes made through the CLI while mounted show in the mount within a second."""

    def src(self, name, content=None):
        return make_tree(self.path(name), files={"w.bin": content if content is not None
                                                 else 64 * KiB, "c.json": b"{}"})

    def wait_for(self, what, check):
        """Polls check() (returns (ok, state)) every 50 ms for up to 1 s."""
        last = {}

        def probe():
            ok, state = check()
            last["state"] = state
            return ok

        ok, waited = poll(probe, timeout=1.0, interval=0.05)
        self.assertTrue(ok, "%s: not seen in the mount within 1 s; last state: %r" % (
            what, last.get("state")))
        # ... and it stays that way.
        ok2, state = check()
        self.assertTrue(ok2, "%s: seen, then lost again: %r" % (what, state))

    def test_save_appears_within_a_second(self):
        self.save("old:v1", self.src("a"))
        mp = self.mount()
        models = os.path.join(mp, "models")
        # Negative lookups before the saves (these could be cached by the kernel).
        self.assertEqual(["old"], os.listdir(models))
        self.assertFalse(os.path.exists(os.path.join(models, "fresh")))
        self.assertFalse(os.path.exists(os.path.join(models, "fresh", "v1")))
        self.assertFalse(os.path.exists(os.path.join(models, "fresh", "latest")))
        self.assertFalse(os.path.exists(os.path.join(models, "old", "v2")))
        self.assertEqual(["latest", "v1"], sorted(os.listdir(os.path.join(models, "old"))))
        self.assertEqual("v1", os.readlink(os.path.join(models, "old", "latest")))
        src_b = self.src("b")
        want_b = manifest(src_b)

        self.save("fresh:v1", src_b)

        def fresh():
            state = {"listdir": sorted(os.listdir(models)),
                     "exists name": os.path.exists(os.path.join(models, "fresh")),
                     "exists version": os.path.exists(os.path.join(models, "fresh", "v1")),
                     "exists file": os.path.exists(os.path.join(models, "fresh", "v1", "w.bin")),
                     "exists latest": os.path.exists(os.path.join(models, "fresh", "latest"))}
            ok = "fresh" in state["listdir"] and all(v for k, v in state.items()
                                                      if k.startswith("exists"))
            return ok, state

        self.wait_for("new model fresh:v1", fresh)
        self.assert_tree_equals_source(self.vdir(mp, "fresh", "v1"), want_b)

        self.save("old:v2", src_b)

        def old_v2():
            d = os.path.join(models, "old")
            try:
                latest = os.readlink(os.path.join(d, "latest"))
            except OSError as e:
                latest = e
            state = {"listdir": sorted(os.listdir(d)),
                     "exists": os.path.exists(os.path.join(d, "v2")),
                     "latest": latest}
            return ("v2" in state["listdir"] and state["exists"] and latest == "v2"), state

        self.wait_for("new version old:v2", old_v2)
        self.assert_tree_equals_source(os.path.join(models, "old", "latest"), want_b)

    def test_generated_version_appears(self):
        mp = self.mount()
        models = os.path.join(mp, "models")
        self.assertEqual([], os.listdir(models))
        self.assertFalse(os.path.exists(os.path.join(models, "gen")))
        tag = self.save("gen", self.src("a"))
        version = tag.split(":")[1]

        def seen():
            state = {"listdir": os.listdir(models),
                     "version": os.path.exists(os.path.join(models, "gen", version)),
                     "latest": os.path.exists(os.path.join(models, "gen", "latest", "w.bin"))}
            return "gen" in state["listdir"] and state["version"] and state["latest"], state

        self.wait_for("new model " + tag, seen)

    def test_delete_disappears_within_a_second(self):
        self.save("gone:v1", self.src("a"))
        self.save("gone:v2", self.src("b"))
        self.save("stay:v1", self.src("c"))
        mp = self.mount()
        models = os.path.join(mp, "models")
        # Warm every cache the kernel may keep: entries, attributes, pages, the symlink.
        for v in ("v1", "v2"):
            vd = os.path.join(models, "gone", v)
            os.listdir(vd)
            os.stat(os.path.join(vd, "w.bin"))
            sha256_file(os.path.join(vd, "w.bin"))
        self.assertEqual("v2", os.readlink(os.path.join(models, "gone", "latest")))
        self.assertEqual(["gone", "stay"], sorted(os.listdir(models)))

        r = self.ok("models", "delete", "gone:v2", "-y")
        self.assertEqual(["gone:v2"], DELETED_RE.findall(r.text))

        def v2_gone():
            d = os.path.join(models, "gone")
            try:
                latest = os.readlink(os.path.join(d, "latest"))
            except OSError as e:
                latest = e
            state = {"listdir": sorted(os.listdir(d)),
                     "exists v2": os.path.exists(os.path.join(d, "v2")),
                     "exists v2 file": os.path.exists(os.path.join(d, "v2", "w.bin")),
                     "latest": latest}
            ok = ("v2" not in state["listdir"] and not state["exists v2"]
                  and not state["exists v2 file"] and latest == "v1")
            return ok, state

        self.wait_for("deleted version gone:v2", v2_gone)

        self.ok("models", "delete", "gone", "-y")

        def name_gone():
            state = {"listdir": sorted(os.listdir(models)),
                     "exists name": os.path.exists(os.path.join(models, "gone")),
                     "exists v1": os.path.exists(os.path.join(models, "gone", "v1")),
                     "exists latest": os.path.lexists(os.path.join(models, "gone", "latest"))}
            ok = state["listdir"] == ["stay"] and not any(
                v for k, v in state.items() if k.startswith("exists"))
            return ok, state

        self.wait_for("deleted model gone", name_gone)
        self.assertTrue(os.path.isfile(os.path.join(models, "stay", "v1", "w.bin")))

    def test_delete_and_save_same_tag_again_serves_new_content(self):
        a = os.urandom(1 * MiB)
        b = os.urandom(1 * MiB)
        self.save("re:v1", self.src("a", a))
        mp = self.mount()
        f = os.path.join(mp, "models", "re", "v1", "w.bin")
        with open(f, "rb") as fh:
            self.assertEqual(a, fh.read())  # pages now in the kernel's cache
        st_a = os.stat(f)
        self.ok("models", "delete", "re:v1", "-y")
        self.wait_for("re:v1 deleted", lambda: (not os.path.exists(f), None))
        self.save("re:v1", self.src("b", b))
        self.wait_for("re:v1 saved again", lambda: (os.path.exists(f), None))
        with open(f, "rb") as fh:
            got = fh.read()
        self.assertEqual(len(b), len(got))
        self.assertTrue(got == b, "re-saved re:v1 served the old content: %s" % (
            "the deleted model's bytes (stale page cache; inode %d before and %d after)" % (
                st_a.st_ino, os.stat(f).st_ino) if got == a else "wrong bytes"))
        self.assertEqual(sha256_bytes(b), os.getxattr(f, "user.modelfs.sha256").decode())


class MountForwardingTest(MountTestCase):
    """While mounted, every command goes to the daemon and behaves as without a mount."""

    def snapshot(self, tags):
        out = {"list": self.ok("models", "list").text,
               "list json": self.list_json(),
               "stats": {k: v for k, v in self.stats().items() if k != "store"}}
        for t in tags:
            out["get " + t] = self.ok("models", "get", t, "-o", "yaml").text
            out["get json " + t] = self.get_json(t)
            out["files " + t] = self.ok("models", "files", t).text
            out["files json " + t] = self.files(t)
            out["cat " + t] = hashlib.sha256(self.cat(t, "w.bin")).hexdigest()
        return out

    def test_commands_behave_the_same_while_mounted(self):
        a = make_tree(self.path("a"), files={"w.bin": 2 * MiB, "d/x.txt": b"x"})
        b = make_tree(self.path("b"), files={"w.bin": 3 * MiB})
        c = make_tree(self.path("c"), files={"w.bin": 1 * MiB, "e": b""}, dirs=["empty"])
        self.save("keep:v1", a)
        mp = self.mount()
        self.assertTrue(os.path.exists(os.path.join(self.home, "control.sock")),
                        "the daemon serves H/control.sock")
        # Saves through the daemon, with a relative source path resolved in the caller's cwd.
        r = self.mf("models", "save", "rel:v1", "b", cwd=self.tmp)
        self.assertEqual(0, r.rc, r.describe())
        self.assertIn('Model(tag="rel:v1") saved.', r.text)
        self.save("gone:v1", c, "--label", "k=v")
        self.assert_model_matches("rel:v1", manifest(b), read_back=True)
        self.assert_model_matches("gone:v1", manifest(c), read_back=True)
        r = self.ok("models", "delete", "gone:v1", "-y")
        self.assertEqual(["gone:v1"], DELETED_RE.findall(r.text))
        self.ok("cache", "gc")
        self.assert_verify_ok()
        self.assert_verify_ok("keep:v1")
        # Errors are forwarded as errors.
        self.fails("models", "get", "nosuch:v1", contains="nosuch")
        self.fails("models", "save", "keep:v1", a)
        self.fails("models", "delete", "keep:v1")  # no -y, stdin not a tty
        self.fails("models", "cat", "keep:v1", "no/such/file")
        r = self.mf("models", "save", "x:v1", "does-not-exist", cwd=self.tmp)
        self.assert_error(r)
        mounted = self.snapshot(["keep:v1", "rel:v1"])
        self.assertEqual({"keep:v1", "rel:v1"}, set(self.tags()))

        self.ok("umount", mp)
        plain = self.snapshot(["keep:v1", "rel:v1"])
        for k in mounted:
            self.assertEqual(plain[k], mounted[k], "%s: differs while mounted" % k)

    def test_concurrent_clients(self):
        # Many clients at once, for a few seconds: saves (one of 2000 small files at a time) and
        # a stream of list/get/cat/files/stats commands.  Every command succeeds and prints its
        # own output (a daemon that mixes up the descriptors of its clients fails this).
        base = make_tree(self.path("base"), files={"w.bin": 64 * KiB, "a.txt": b"alpha\n"})
        self.save("base:v1", base)
        want_yaml = self.ok("models", "get", "base:v1", "-o", "yaml").text
        many = self.path("many")
        os.makedirs(many)
        for i in range(2000):
            with open(os.path.join(many, "f%04d" % i), "wb") as f:
                f.write(b"%d\n" % i)
        mp = self.mount()
        self.assertEqual(want_yaml, self.ok("models", "get", "base:v1", "-o", "yaml").text)

        checks = {
            "list": (["models", "list", "-o", "json"],
                     lambda out: "base:v1" in [m["tag"] for m in json.loads(out)]),
            "get": (["models", "get", "base:v1", "-o", "yaml"], lambda out: out == want_yaml),
            "cat": (["models", "cat", "base:v1", "a.txt"], lambda out: out == "alpha\n"),
            "files": (["models", "files", "base:v1", "-o", "json"],
                      lambda out: sorted(e["path"].lstrip("./") for e in json.loads(out))
                      == ["a.txt", "w.bin"] or "a.txt" in out),
            "stats": (["cache", "stats", "-o", "json"], lambda out: "models" in json.loads(out)),
        }
        deadline = time.monotonic() + 12.0
        problems, counts, saved = [], {}, set()
        lock = threading.Lock()

        def client(i):
            names = sorted(checks)
            k = 0
            while time.monotonic() < deadline and not problems:
                name = names[(i + k) % len(names)]
                k += 1
                argv, ok = checks[name]
                r = self.mf(*argv, timeout=60)
                good = r.rc == 0
                if good:
                    try:
                        good = ok(r.text)
                    except ValueError:
                        good = False
                with lock:
                    counts[name] = counts.get(name, 0) + 1
                    if not good:
                        problems.append("%s:\n%s" % (name, r.describe()))

        def saver():
            n = 0
            while time.monotonic() < deadline and not problems:
                tag = "many:v%d" % n
                n += 1
                r = self.mf("models", "save", tag, many, timeout=60)
                with lock:
                    counts["save"] = counts.get("save", 0) + 1
                    if r.rc != 0 or ('Model(tag="%s") saved.' % tag) not in r.text:
                        problems.append("save %s:\n%s" % (tag, r.describe()))
                    else:
                        saved.add(tag)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
        threads.append(threading.Thread(target=saver))
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertFalse(any(t.is_alive() for t in threads), "clients hung")
        if problems:
            self.fail("%d of %d commands failed or printed wrong output; the first ones:\n%s" % (
                len(problems), sum(counts.values()), "\n".join(problems[:3])))
        self.assertEqual({"base:v1"} | saved, set(self.tags()))
        self.assert_verify_ok()
        self.assertEqual(want_yaml, self.ok("models", "get", "base:v1", "-o", "yaml").text)
        want = sorted(["base"] + (["many"] if saved else []))
        poll(lambda: sorted(os.listdir(os.path.join(mp, "models"))) == want, timeout=1.0)
        self.assertEqual(want, sorted(os.listdir(os.path.join(mp, "models"))))


class MountDamageTest(MountTestCase):

    def test_damaged_pack_gives_eio_and_a_log_line(self):
        rel = "weights/model.bin"
        src = make_tree(self.path("a"), files={rel: 8 * MiB, "tiny.txt": b"t"})
        with open(os.path.join(src, rel), "rb") as f:
            want = f.read()
        self.save("bad:v1", src)
        packs = {p: os.path.getsize(p) for p in self.pack_files()}
        self.assertTrue(packs, "no pack files under %s" % self.packs_dir())
        pack = max(packs, key=packs.get)
        good = make_tree(self.path("b"), files={"other.bin": 2 * MiB})
        self.save("good:v1", good)
        mp = self.mount()
        # Damage the middle of bad:v1's data, after mounting and before any read of it.
        offset = packs[pack] // 2
        with open(pack, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0x5A]))
            f.flush()
            os.fsync(f.fileno())
        path = os.path.join(mp, "models", "bad", "v1", rel)
        self.assertEqual(8 * MiB, os.stat(path).st_size)

        # Whole-file read: EIO.
        with self.assertRaises(OSError) as cm:
            with open(path, "rb") as f:
                f.read()
        self.assertEqual(errno.EIO, cm.exception.errno, "read of a damaged file: %r" % cm.exception)

        # Piece by piece: each read gives the right bytes (possibly fewer than asked, stopping
        # before the damage, as any filesystem does when a read fails part way) or EIO; never
        # wrong bytes, never an early end of file; some reads fail.
        step = 256 * KiB
        failed = 0
        for attempt in range(2):
            fd = os.open(path, os.O_RDONLY)
            try:
                pos = 0
                while pos < len(want):
                    try:
                        got = os.pread(fd, step, pos)
                    except OSError as e:
                        self.assertEqual(errno.EIO, e.errno, "pread at %d: %r" % (pos, e))
                        failed += 1
                        pos = (pos // step + 1) * step
                        continue
                    self.assertGreater(len(got), 0, "pass %d: end of file at %d of %d" % (
                        attempt, pos, len(want)))
                    self.assertTrue(got == want[pos:pos + len(got)],
                                    "pass %d: wrong bytes served at offset %d" % (attempt, pos))
                    pos += len(got)
                self.assertEqual(len(want), os.fstat(fd).st_size, "size after failed reads")
            finally:
                os.close(fd)
        self.assertGreater(failed, 0, "no read of the damaged file failed")

        def logged():
            for line in self.mount_log().splitlines():
                if rel in line and ("bad:v1" in line or "bad/v1" in line):
                    return True
            return False

        ok, _ = poll(logged, timeout=2.0)
        self.assertTrue(ok, "mount.log must have a line naming bad:v1 and %s; it has:\n%s" % (
            rel, self.mount_log()[-3000:]))
        # The rest of the store is served fine.
        self.assert_tree_equals_source(os.path.join(mp, "models", "good", "v1"), manifest(good))
        with open(os.path.join(mp, "models", "bad", "v1", "tiny.txt"), "rb") as f:
            self.assertEqual(b"t", f.read())
        self.assertEqual(["bad", "good"], sorted(os.listdir(os.path.join(mp, "models"))))


if __name__ == "__main__":
    unittest.main()
