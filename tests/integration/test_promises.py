"""The store's basic promises against hostile input (issue 16): `name:latest` deletes one version,
'latest' is never a stored version, names that would confuse the tree and sizes that would wrap
are refused wherever a model comes in (save, import, Hub pull), a save never copies the kernel's
pseudo files (the daemon's own environment), the store is private, and model.yaml parsing is
linear.  Each refusal is an `Error:` with exit 1 that names the entry, and leaves the store as it
was.
"""

import json
import os
import stat
import time
import unittest
import urllib.request

from harness import KiB, MiB, ModelfsTestCase, make_tree
from test_archive import IMPORTED_RE, model_yaml, write_tar
from test_hf_pull import HfPullTestCase

OK_FILE = ("./ok.bin", "file", b"fine\n")


class DeleteLatestTest(ModelfsTestCase):

    def test_name_latest_deletes_only_the_newest_version(self):
        src = make_tree(self.path("src"), files={"w.bin": 8 * KiB})
        for v in ("v1", "v2", "v3"):
            self.save("ok:" + v, src)
        r = self.ok("models", "delete", "ok:latest", "-y")
        self.assertIn('Model(tag="ok:v3") deleted.', r.out)
        self.assertEqual(["ok:v2", "ok:v1"], self.tags("ok"))
        # "ok:LATEST" is the same tag, lower-cased.
        self.ok("models", "delete", "ok:LATEST", "-y")
        self.assertEqual(["ok:v1"], self.tags("ok"))

    def test_bare_name_still_deletes_every_version(self):
        src = make_tree(self.path("src"), files={"w.bin": 8 * KiB})
        for v in ("v1", "v2"):
            self.save("ok:" + v, src)
        r = self.ok("models", "delete", "ok", "-y")
        self.assertEqual(2, r.out.count("deleted."))
        self.assertEqual([], self.tags())


class ReservedVersionTest(ModelfsTestCase):

    def setUp(self):
        super().setUp()
        self.save("existing:v1", make_tree(self.path("good"), files={"w.bin": 4 * KiB}))
        self.before = self.state()

    def import_refused(self, version_text, words):
        yaml = model_yaml("ok", "v1").replace(b"version: v1", b"version: " + version_text)
        path = write_tar(self.path("m-%d.tar" % len(os.listdir(self.path()))),
                         [("./model.yaml", "file", yaml), OK_FILE])
        r = self.mf("models", "import", path)
        self.assertIsNone(IMPORTED_RE.search(r.text), r.describe())
        self.assert_error(r, contains=words)
        self.assert_state_unchanged(self.before, what="after importing version %r" % version_text)

    def test_import_refuses_latest_and_empty_versions(self):
        for text in (b"latest", b"'latest'", b"''", b"", b"null"):
            with self.subTest(version=text):
                self.import_refused(text, ["needs a concrete version, not 'latest'"])
        self.import_refused(b"LATEST", ["lower-case"])  # model.yaml is not lower-cased

    def test_save_of_name_latest_makes_a_real_version(self):
        r = self.ok("models", "save", "fresh:latest", self.path("good"))
        self.assertNotIn("fresh:latest", r.out)
        tags = self.tags("fresh")
        self.assertEqual(1, len(tags))
        self.assertNotEqual("fresh:latest", tags[0])


class HostileNamesSaveImportTest(ModelfsTestCase):
    """Names the mount could not show unambiguously, from a directory and from an archive."""

    NAMES = ["evil\nname", "esc\x1b[2Jx", "tab\tname", "del\x7f"]

    def setUp(self):
        super().setUp()
        self.save("existing:v1", make_tree(self.path("good"), files={"w.bin": 4 * KiB}))
        self.before = self.state()

    def test_save_refuses_unprintable_and_overlong_names(self):
        for i, name in enumerate(self.NAMES):
            with self.subTest(name=name[:20]):
                src = make_tree(self.path("src%d" % i), files={"ok.bin": b"ok", name: b"bad"})
                r = self.mf("models", "save", "m:v1", src)
                self.assert_error(r, contains=["not allowed"])
                self.assertNotIn("\x1b", r.err)
                self.assert_state_unchanged(self.before, what="after saving %r" % name)

    def test_import_refuses_them_too(self):
        names = self.NAMES + ["x" * 256, "d/" + "y" * 256]
        for i, name in enumerate(names):
            with self.subTest(name=name[:20]):
                path = write_tar(self.path("h%d.tar" % i), [
                    ("./model.yaml", "file", model_yaml("ok", "v1")), OK_FILE,
                    ("./" + name, "file", b"bad")])
                r = self.mf("models", "import", path)
                self.assert_error(r)
                self.assertIsNone(IMPORTED_RE.search(r.text), r.describe())
                self.assert_state_unchanged(self.before, what="after importing %r" % name)


class HostileListingTest(HfPullTestCase):
    """A Hub whose listing names entries that would confuse the tree, or sizes that would wrap."""

    def setUp(self):
        super().setUp()
        self.before = self.state()
        src, _ = self.data("config.json", 100)
        big, _ = self.data("w.safetensors", 2 * MiB)
        self.sim.add_repo("org/evil", {"config.json": src, "model.safetensors": big})

    def tree_answer(self, mutate):
        """The repo's real tree listing, changed by `mutate(entries)`, served from now on."""
        url = self.sim.endpoint + "/api/models/org/evil/tree/main?recursive=true"
        with urllib.request.urlopen(url, timeout=10) as r:
            entries = json.loads(r.read())
        mutate(entries)
        self.sim.add_fault("status", "*/tree/*", count=None, server="hub", status=200,
                           body=json.dumps(entries), content_type="application/json")

    def refused(self, words):
        r = self.pull_fails("hf://org/evil", contains=words)
        self.assertNotIn("\x1b", r.err)
        self.assert_state_unchanged(self.before)
        return r

    def rename(self, new):
        def mutate(entries):
            for e in entries:
                if e["path"] == "model.safetensors":
                    e["path"] = new
        return mutate

    def test_names_that_confuse_the_tree(self):
        cases = {"nul": "config.json\u0000zz", "newline": "x\ny", "escape": "a\u001b[31m",
                 "dot": ".", "dotdot": "..", "inner dotdot": "a/../config.json",
                 "empty component": "a//b", "long component": "c" * 256,
                 "long path": "/".join(["d" * 200] * 20)}
        for what, name in cases.items():
            with self.subTest(what):
                self.sim.clear_faults()
                self.tree_answer(self.rename(name))
                self.refused(["refusing the file"])

    def test_sizes_that_wrap_or_exceed_any_disk(self):
        for what, path, size in (("2^64-1", "model.safetensors", 2 ** 64 - 1),
                                 ("1 PiB LFS", "model.safetensors", 2 ** 50),
                                 ("2^62 small file", "config.json", 2 ** 62)):
            with self.subTest(what):
                self.sim.clear_faults()

                def mutate(entries, path=path, size=size):
                    for e in entries:
                        if e["path"] == path:
                            e["size"] = size
                            if "lfs" in e:
                                e["lfs"]["size"] = size
                self.tree_answer(mutate)
                self.refused(["size", "bytes"])


class PseudoFileTest(ModelfsTestCase):
    """A save never stores the kernel's process files: inside the daemon /proc/self is the daemon."""

    def src_with_link(self, target):
        src = make_tree(self.path("src"), files={"ok.bin": b"ok"})
        os.symlink(target, os.path.join(src, "e"))
        return src

    def test_proc_self_environ_is_refused_with_and_without_a_mount(self):
        src = self.src_with_link("/proc/self/environ")
        before = self.state()
        self.fails("models", "save", "m:v1", src, contains=["proc"])
        self.assert_state_unchanged(before)
        self.mount(self.mountpoint())
        r = self.mf("models", "save", "m:v1", src, env_extra={"HF_TOKEN": "hf_secret_in_env"})
        self.assert_error(r, contains=["proc"])
        self.assertEqual([], self.tags())

    def test_other_pseudo_file_systems(self):
        for target in ("/proc/version", "/sys/kernel/mm/transparent_hugepage/enabled",
                       "/proc/self/status"):
            if not os.path.exists(target):
                continue
            with self.subTest(target):
                src = self.src_with_link(target)
                self.fails("models", "save", "m:v1", src, contains=["file system"])
                os.unlink(os.path.join(src, "e"))
        self.assertEqual([], self.tags())


class PrivateStoreTest(ModelfsTestCase):

    def test_store_is_private_and_stays_so(self):
        self.save("m:v1", make_tree(self.path("src"), files={"w.bin": 64 * KiB}))
        mode = stat.S_IMODE(os.stat(self.home).st_mode)
        self.assertEqual(0o700, mode, "store directory mode %o" % mode)
        for pack in self.pack_files():
            self.assertEqual(0, os.stat(pack).st_mode & 0o077, "pack %s is readable by others" % pack)
        os.chmod(self.home, 0o755)
        self.save("m:v2", self.path("src"))
        self.assertEqual(0o700, stat.S_IMODE(os.stat(self.home).st_mode))


class ModelYamlScalingTest(ModelfsTestCase):

    def test_many_metadata_keys_import_in_linear_time(self):
        """Import time per key stays flat from 10 k to 80 k keys (it grew 4.5x per doubling)."""
        per_key = {}
        for n in (10000, 80000):
            meta = {"k%d" % i: i for i in range(n)}
            path = write_tar(self.path("meta%d.tar" % n), [
                ("./model.yaml", "file", model_yaml("meta", "n%d" % n, metadata=meta)), OK_FILE])
            t0 = time.monotonic()
            self.ok("models", "import", path, timeout=120)
            per_key[n] = (time.monotonic() - t0) / n
        # Quadratic parsing made the 8x larger document cost 8x more per key; linear costs the same.
        self.assertLess(per_key[80000], 3 * per_key[10000] + 5e-6, per_key)
        self.assertEqual(80000, len(self.get_json("meta:n80000")["metadata"]))

    def test_oversize_model_yaml_is_refused(self):
        yaml = model_yaml("big", "v1") + b"x: '" + b"a" * (17 << 20) + b"'\n"
        path = write_tar(self.path("big.tar"), [("./model.yaml", "file", yaml), OK_FILE])
        self.fails("models", "import", path, contains=["model.yaml"])
        self.assertEqual([], self.tags())


if __name__ == "__main__":
    unittest.main()
