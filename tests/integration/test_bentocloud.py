"""`modelfs models push` / `models pull NAME[:VERSION]` against the BentoCloud simulator
(tests/sims/bentocloud_sim.py): pushes by every transmission strategy, lazy pulls that fetch only
tar headers (by range reads) and then a file's own bytes when it is read, whole downloads when the
server ignores Range, models pushed by BentoML itself, corrupt blobs, failed uploads and errors.

One simulator for the whole class (setUpClass; stopped by a class cleanup, which runs after every
test's mount cleanups); every test starts from an empty simulator (reset(data=True)) with the
default settings.  BENTO_CLOUD_API_ENDPOINT / BENTO_CLOUD_API_KEY reach the CLI (and the mount
daemon) through the test's environment.
"""

import errno
import hashlib
import io
import os
import re
import sys
import tarfile
import threading
import unittest

from harness import KiB, MiB, REPO, ModelfsTestCase, is_mounted, make_tree, manifest
from test_archive import model_yaml

sys.path.insert(0, os.path.join(REPO, "tests", "sims"))
from bentocloud_sim import BentoCloudSim  # noqa: E402

API_KEY = "modelfs-test-key"
PUSHED_RE = re.compile(r'^Model\(tag="([^"]+)"\) pushed to BentoCloud \(([^)]+)\)\.\s*$', re.M)
ALREADY_RE = re.compile(
    r'^Model\(tag="([^"]+)"\) is already on BentoCloud; use --force to push it again\.\s*$', re.M)
REGISTERED_RE = re.compile(
    r'^Model\(tag="([^"]+)"\) registered \((\d+) files?, ([^,]+), ([^)]+) fetched\)\.\s*$', re.M)
DOWNLOADED_RE = re.compile(r'^Model\(tag="([^"]+)"\) downloaded \(([^)]+)\)\.\s*$', re.M)
DEFAULTS = dict(strategy="presigned_url", min_part=5 * MiB, fault="none", put_fault="none",
                fault_every=1)
needs_fuse = unittest.skipUnless(os.path.exists("/dev/fuse"), "no /dev/fuse")


def tar_size(members):
    return sum(m["size"] for m in members)


class BentoCloudTestCase(ModelfsTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = BentoCloudSim(env={}, api_key=API_KEY)
        cls.endpoint = cls.sim.start()
        cls.addClassCleanup(cls.sim.stop)

    def setUp(self):
        super().setUp()
        self.sim.reset(data=True)
        self.sim.configure(**DEFAULTS)
        for k in list(self.env):
            if k.startswith("BENTO") or k.startswith("YATAI"):
                self.env.pop(k)
        self.env["BENTO_CLOUD_API_ENDPOINT"] = self.endpoint
        self.env["BENTO_CLOUD_API_KEY"] = API_KEY
        self.home2 = self.path("home2")

    # helpers -----------------------------------------------------------------------------------
    def saved(self, tag, files):
        src = make_tree(self.path("src-" + tag.replace(":", "-")), files=files)
        self.assertEqual(tag, self.save(tag, src))
        return src, manifest(src)

    def push(self, tag, *extra, home=None):
        r = self.mf("models", "push", tag, *extra, home=home, timeout=120)
        if r.rc != 0:
            self.fail("push failed:\n" + r.describe())
        m = PUSHED_RE.search(r.text)
        self.assertIsNotNone(m, "expected `Model(tag=...) pushed to BentoCloud (SIZE).`:\n"
                             + r.describe())
        self.assertEqual(tag, m.group(1))
        conf = self.sim.stats()["conformance"]
        self.assertEqual([], conf, "the push did something BentoML's server would not expect")
        return r

    def pull(self, source, *extra, regex=REGISTERED_RE, home=None):
        r = self.mf("models", "pull", source, *extra, home=home or self.home2, timeout=120)
        if r.rc != 0:
            self.fail("pull failed:\n" + r.describe())
        m = regex.search(r.text)
        self.assertIsNotNone(m, "expected %r:\n%s" % (regex.pattern, r.describe()))
        return m

    def blob(self, tag):
        return self.sim.stats()["blobs"].get(tag, {})

    def served(self):
        return self.sim.stats()["bytes_served"]

    def payload_size(self, tag):
        name, _, version = tag.partition(":")
        return self.sim.state()["repositories"][name]["models"][version]["object"]["size"]

    def assert_payload_has_sha256_pax(self, tag, want):
        """The pushed object is an uncompressed tar of ./, ./model.yaml and the files, each file
        with a pax attribute carrying its sha256."""
        name, _, version = tag.partition(":")
        blob = self.sim.store.get((name, version))
        self.assertIsNotNone(blob, "no object stored for " + tag)
        with blob.open() as f, tarfile.open(fileobj=f, mode="r:") as tf:
            members = {m.name: m for m in tf}
        self.assertTrue({"./", "."} & set(members), sorted(members))  # tarfile drops the "/"
        self.assertIn("./model.yaml", members, sorted(members))
        for rel, w in want["files"].items():
            self.assertIn("./" + rel, members, "payload members: %r" % sorted(members))
            pax = members["./" + rel].pax_headers
            self.assertIn(w["sha256"], [str(v).lower().split(":")[-1] for v in pax.values()],
                          "no pax attribute with the sha256 of %s: %r" % (rel, pax))

    def read_in_thread(self, path, timeout=60):
        box = {}

        def run():
            h = hashlib.sha256()
            try:
                with open(path, "rb", buffering=0) as f:
                    while True:
                        b = f.read(1 * MiB)
                        if not b:
                            break
                        h.update(b)
                box["sha"] = h.hexdigest()
            except OSError as e:
                box["errno"] = e.errno

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self.fail("reading %s did not return within %ss\nmount.log:\n%s" % (
                path, timeout, self.mount_log(self.home2)[-2000:]))
        return box.get("sha"), box.get("errno")


class PushPullTest(BentoCloudTestCase):

    def test_push_then_lazy_pull_fetches_headers_then_one_file(self):
        src, want = self.saved("lazy:v1", {"big.bin": 4 * MiB, "mid.bin": 1 * MiB,
                                           "config.json": b'{"a": 1}\n'})
        self.push("lazy:v1")
        size = self.payload_size("lazy:v1")
        self.assertGreater(size, 5 * MiB)
        self.assert_payload_has_sha256_pax("lazy:v1", want)
        self.sim.reset()
        m = self.pull("lazy:v1")
        self.assertEqual("lazy:v1", m.group(1))
        served = self.served()
        self.assertLess(served, size // 10,
                        "pull downloaded %d of %d bytes: not lazy (%r)" % (served, size,
                                                                           self.blob("lazy:v1")))
        self.assertEqual(0, self.blob("lazy:v1").get("proxy_gets", 0))
        self.assertEqual(b'{"a": 1}\n', self.cat("lazy:v1", "config.json", home=self.home2))
        before = self.served()
        rc, digest, n, err = self.cat_sha256("lazy:v1", "mid.bin", home=self.home2)
        self.assertEqual((0, want["files"]["mid.bin"]["sha256"]), (rc, digest), err)
        extra = self.served() - before
        self.assertGreaterEqual(extra, 1 * MiB)
        self.assertLess(extra, 1 * MiB + 256 * KiB,
                        "reading a 1 MiB file fetched %d bytes" % extra)
        self.assert_model_matches("lazy:v1", want, home=self.home2, read_back=True)
        self.assertEqual(self.files("lazy:v1"), self.files("lazy:v1", home=self.home2))

    def test_export_of_a_lazy_pull_fetches_the_files_and_matches(self):
        """An export needs every byte: a model pulled lazily is fetched (and verified) as
        it is written out, through a store opened for writing, and the tar holds the
        source's files."""
        src, want = self.saved("lexp:v1", {"w.bin": 2 * MiB, "config.json": b'{"b": 2}\n'})
        self.push("lexp:v1")
        self.pull("lexp:v1")
        out = os.path.join(self.tmp, "lexp.tar")
        before = self.served()
        self.ok("models", "export", "lexp:v1", out, home=self.home2)
        self.assertGreaterEqual(self.served() - before, 2 * MiB)
        with tarfile.open(out, "r:") as tf:
            got = {m.name[2:]: hashlib.sha256(tf.extractfile(m).read()).hexdigest()
                   for m in tf if m.isfile() and m.name != "./model.yaml"}
        self.assertEqual({rel: w["sha256"] for rel, w in want["files"].items()}, got)
        # A second export reads the now-stored files, fetching nothing.
        before = self.served()
        self.ok("models", "export", "lexp:v1", out, "-f", home=self.home2)
        self.assertEqual(before, self.served())

    def test_multipart_push_and_pull(self):
        self.sim.configure(strategy="multipart", min_part=1 * MiB)
        src, want = self.saved("multi:v1", {"w.bin": 3 * MiB, "x.txt": b"x\n"})
        self.push("multi:v1")
        st = self.sim.stats()
        self.assertEqual(1, st["requests"].get("start_multipart_upload"), st["requests"])
        self.assertEqual(1, st["requests"].get("complete_multipart_upload"), st["requests"])
        self.assertGreaterEqual(st["blobs"]["multi:v1"].get("part_puts", 0), 1)
        self.assert_payload_has_sha256_pax("multi:v1", want)
        self.pull("multi:v1")
        self.assert_model_matches("multi:v1", want, home=self.home2, read_back=True)

    def test_proxy_push_and_pull_downloads_whole(self):
        self.sim.configure(strategy="proxy")
        src, want = self.saved("prox:v1", {"w.bin": 2 * MiB, "y.txt": b"y\n"})
        self.push("prox:v1")
        self.assertEqual(1, self.blob("prox:v1").get("proxy_puts"), self.blob("prox:v1"))
        self.assertEqual(0, self.blob("prox:v1").get("puts"), self.blob("prox:v1"))
        self.assert_payload_has_sha256_pax("prox:v1", want)
        self.sim.configure(strategy="legacy_proxy")  # no URLs at all: the proxy download
        self.sim.reset()
        self.pull("prox:v1", regex=DOWNLOADED_RE)
        self.assertEqual(1, self.blob("prox:v1").get("proxy_gets"), self.blob("prox:v1"))
        self.assert_model_matches("prox:v1", want, home=self.home2, read_back=True)

    def test_proxy_strategy_pull(self):
        """transmission_strategy "proxy": the pull either reads ranges of presigned URLs
        (registered) or downloads the tar whole through the proxy (downloaded)."""
        src, want = self.saved("prox2:v1", {"w.bin": 1 * MiB})
        self.push("prox2:v1")
        self.sim.configure(strategy="proxy")
        r = self.mf("models", "pull", "prox2:v1", home=self.home2, timeout=120)
        self.assertEqual(0, r.rc, r.describe())
        self.assertTrue(REGISTERED_RE.search(r.text) or DOWNLOADED_RE.search(r.text), r.describe())
        self.assert_model_matches("prox2:v1", want, home=self.home2, read_back=True)

    def test_push_twice_skips_and_force_uploads_again(self):
        self.saved("twice:v1", {"w.bin": 256 * KiB})
        self.push("twice:v1")
        puts = self.blob("twice:v1").get("puts", 0)
        self.assertEqual(1, puts, self.blob("twice:v1"))
        r = self.ok("models", "push", "twice:v1")
        self.assertRegex(r.text, ALREADY_RE)
        self.assertEqual(1, self.blob("twice:v1").get("puts", 0), "second push uploaded again")
        self.push("twice:v1", "-f")
        self.assertEqual(2, self.blob("twice:v1").get("puts", 0), "push -f did not upload again")
        self.assertIn("finish_upload:success", self.sim.stats()["events"]["twice:v1"])


class BentoMLSeededTest(BentoCloudTestCase):

    def test_model_pushed_by_bentoml_pulls_lazily(self):
        version = "abcdefghijklmnop"
        d = make_tree(self.path("bento"), files={"model.yaml": model_yaml("seeded", version),
                                                 "weights.bin": 2 * MiB,
                                                 "sub/config.json": b'{"k": 2}\n'})
        os.chmod(os.path.join(d, "weights.bin"), 0o755)
        os.makedirs(os.path.join(d, "empty", "deeper"))
        want = manifest(d, exclude=("model.yaml",))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:") as tf:
            tf.add(d, arcname="./")
        data = buf.getvalue()
        self.sim.add_model("seeded", version, data=data)
        m = self.pull("seeded")  # no version: the latest
        self.assertEqual("seeded:" + version, m.group(1))
        tag = "seeded:" + version
        self.assertLess(self.served(), len(data) // 10, self.blob(tag))
        files = self.files(tag, home=self.home2)
        self.assertEqual(sorted(want["files"]),
                         sorted(p for p, e in files.items() if e["type"] == "file"
                                and p != "model.yaml"))
        for rel, w in want["files"].items():
            # No sha256 in the payload: `files` may not know it before the first read, but it
            # must never show a wrong one.
            self.assertIn(str(files[rel]["sha256"]).lower(), ("", w["sha256"]), rel)
            self.assertEqual(w["size"], files[rel]["size"], rel)
            rc, digest, n, err = self.cat_sha256(tag, rel, home=self.home2)
            self.assertEqual((0, w["sha256"], w["size"]), (rc, digest, n), err)
        # store-format.md: the sha256 of a BentoCloud member without a digest is empty (the
        # member is known by a location key) until its bytes are stored; then it is theirs.
        files = self.files(tag, home=self.home2)
        for rel, w in want["files"].items():
            self.assertEqual(w["sha256"], str(files[rel]["sha256"]).lower(), rel)
        # The tar's modes and directories, empty ones included, come through the lazy pull.
        self.assertNotEqual(0, files["weights.bin"]["mode"] & 0o111, "executable bit lost")
        self.assertEqual(0, files["sub/config.json"]["mode"] & 0o111, "executable bit added")
        for rel in ("empty", "empty/deeper", "sub"):
            self.assertEqual("dir", files.get(rel, {}).get("type"), "%s: %r" % (rel, files.get(rel)))


@needs_fuse
class CorruptBlobTest(BentoCloudTestCase):

    def test_corrupt_blob_read_through_mount_is_eio_then_recovers(self):
        src, want = self.saved("bad:v1", {"w.bin": 1 * MiB + 123})
        self.push("bad:v1")
        self.pull("bad:v1")
        self.sim.configure(fault="corrupt")
        mp = self.mountpoint()
        self.mount(mp, home=self.home2)
        f = os.path.join(mp, "models", "bad", "v1", "w.bin")
        sha, err = self.read_in_thread(f)
        self.assertEqual(errno.EIO, err, "corrupt blob read gave sha %s errno %s\nmount.log:\n%s"
                         % (sha, err, self.mount_log(self.home2)[-2000:]))
        self.assertGreater(self.sim.stats()["faults_total"], 0)
        self.sim.configure(fault="none")
        sha, err = self.read_in_thread(f)
        self.assertIsNone(err, "read after the fault cleared: errno %s" % err)
        self.assertEqual(want["files"]["w.bin"]["sha256"], sha)
        self.ok("umount", mp, home=self.home2, timeout=60)
        self.assertFalse(is_mounted(mp))
        self.assert_verify_ok(home=self.home2)
        self.assert_model_matches("bad:v1", want, home=self.home2, read_back=True)


class ErrorTest(BentoCloudTestCase):

    def test_bad_key_and_unknown_model_leave_store_unchanged(self):
        self.saved("known:v1", {"w.bin": 64 * KiB})
        self.push("known:v1")
        self.save("local:v1", make_tree(self.path("loc"), files={"l": b"l\n"}), home=self.home2)
        before = self.state(home=self.home2)
        r = self.mf("models", "pull", "known:v1", home=self.home2,
                    env_extra={"BENTO_CLOUD_API_KEY": "wrong-key"})
        self.assert_error(r, "refused the API key")
        r = self.mf("models", "pull", "nosuch:v1", home=self.home2)
        self.assert_error(r, "does not exist on BentoCloud")
        r = self.mf("models", "push", "local:v1", home=self.home2,
                    env_extra={"BENTO_CLOUD_API_KEY": "wrong-key"})
        self.assert_error(r, "refused the API key")
        self.assert_state_unchanged(before, home=self.home2, what="after failed pulls")

    def test_failed_upload_exits_1_and_marks_upload_failed(self):
        self.saved("fail:v1", {"w.bin": 128 * KiB})
        self.sim.configure(put_fault="500", fault_every=1)
        r = self.mf("models", "push", "fail:v1", timeout=120)
        self.assert_error(r)
        events = self.sim.stats()["events"].get("fail:v1", [])
        self.assertIn("finish_upload:failed", events, "events: %r\n%s" % (events, r.describe()))
        self.assertNotIn("finish_upload:success", events)
