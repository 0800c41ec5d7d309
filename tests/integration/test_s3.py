"""`modelfs models export ... s3://` / `models import s3://...` against s3rver behind the SigV4
proxy (tests/sims/s3rver.py): round trips (bentomodel to a prefix, tar.zst by key, a multipart
upload), --force, credential / bucket / key errors and failed exports that leave nothing behind.

One S3 server for the whole class (started in setUpClass, stopped by a class cleanup); each test
uses its own key prefix.  Credentials and the endpoint reach the CLI through the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION) unless a test says
--s3-endpoint.
"""

import json
import os
import re
import sys
import urllib.request

from harness import MiB, REPO, make_tree, manifest
from test_archive import IMPORTED_RE, ArchiveTestCase, make_model_src

sys.path.insert(0, os.path.join(REPO, "tests", "sims"))
from s3rver import S3rver  # noqa: E402

S3_EXPORTED_RE = re.compile(r'^Model\(tag="([^"]+)"\) exported to (s3://\S+?)\.\s*$', re.M)
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
            "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
BUCKET = "models"


class S3TestCase(ArchiveTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s3 = S3rver(buckets=[BUCKET], verify_signatures=True)
        cls.s3.start()
        cls.addClassCleanup(cls.s3.stop)

    def setUp(self):
        super().setUp()
        for k in AWS_VARS:
            self.env.pop(k, None)
        self.env.update({"AWS_ACCESS_KEY_ID": self.s3.access_key,
                         "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                         "AWS_ENDPOINT_URL": self.s3.endpoint, "AWS_REGION": "us-east-1"})
        self.prefix = self.id().rsplit(".", 1)[-1]
        self.set_faults([])

    # S3 side -----------------------------------------------------------------------------------
    def objects(self, prefix=None):
        """Keys stored in the bucket under `prefix` (default: this test's prefix), from s3rver's
        data directory (s3rver keeps KEY._S3rver_object beside its metadata)."""
        prefix = self.prefix if prefix is None else prefix
        root = os.path.join(self.s3.directory, BUCKET)
        keys = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith("._S3rver")]
            for n in filenames:
                if n.endswith("._S3rver_object"):
                    rel = os.path.relpath(os.path.join(dirpath, n), root).replace(os.sep, "/")
                    keys.append(rel[:-len("._S3rver_object")])
        return sorted(k for k in keys if k.startswith(prefix))

    def _control(self, path, body=None):
        req = urllib.request.Request(self.s3.endpoint + path, data=body,
                                     method="POST" if body is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def set_faults(self, faults):
        self._control("/_sim/faults", json.dumps(faults).encode())

    def requests(self):
        return self._control("/_sim/requests")

    def list_uploads(self):
        d = os.path.join(self.s3.directory, BUCKET, "._S3rver_uploads")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    # CLI ---------------------------------------------------------------------------------------
    def s3_export(self, tag, dest, *extra, home=None):
        r = self.mf("models", "export", tag, dest, *extra, home=home, timeout=120)
        if r.rc != 0:
            self.fail("export failed:\n" + r.describe())
        m = S3_EXPORTED_RE.search(r.text)
        self.assertIsNotNone(m, 'expected `Model(tag="...") exported to s3://...`:\n' + r.describe())
        self.assertEqual(tag, m.group(1))
        url = m.group(2)
        self.assertTrue(url.startswith("s3://%s/" % BUCKET), r.describe())
        key = url[len("s3://%s/" % BUCKET):]
        self.assertIn(key, self.objects(""), "reported object not in the bucket:\n" + r.describe())
        return url

    def s3_import(self, url, *extra, home=None):
        r = self.mf("models", "import", url, *extra, home=home, timeout=120)
        if r.rc != 0:
            self.fail("import failed:\n" + r.describe())
        m = IMPORTED_RE.search(r.text)
        self.assertIsNotNone(m, 'expected `Model(tag="...") imported.`:\n' + r.describe())
        return m.group(1)


class S3RoundTripTest(S3TestCase):

    def test_bentomodel_to_prefix_and_import_into_fresh_store(self):
        src = make_model_src(self.path("src"), weights_size=2 * MiB)
        want = manifest(src)
        tag = self.save("s3demo:v1", src, "--label", "team=nlp", "--metadata", "acc=1")
        url = self.s3_export(tag, "s3://%s/%s/" % (BUCKET, self.prefix))
        self.assertEqual("s3://%s/%s/s3demo-v1.bentomodel" % (BUCKET, self.prefix), url)
        home2 = self.path("home2")
        self.assertEqual(tag, self.s3_import(url, home=home2))
        self.assertEqual(self.get_json(tag), self.get_json(tag, home=home2))
        self.assertEqual(self.files(tag), self.files(tag, home=home2))
        self.assert_model_matches(tag, want, home=home2, read_back=2)

    def test_tar_zst_by_key_with_s3_endpoint_flag(self):
        src = make_model_src(self.path("src"), weights_size=1 * MiB)
        tag = self.save("zdemo:v2", src)
        self.env.pop("AWS_ENDPOINT_URL")
        key = "%s/deep/my-model.tar.zst" % self.prefix
        url = self.s3_export(tag, "s3://%s/%s" % (BUCKET, key), "--s3-endpoint", self.s3.endpoint)
        self.assertEqual("s3://%s/%s" % (BUCKET, key), url)
        with open(os.path.join(self.s3.directory, BUCKET, key + "._S3rver_object"), "rb") as f:
            self.assertEqual(b"\x28\xb5\x2f\xfd", f.read(4), "not a zstd stream")
        home2 = self.path("home2")
        self.assertEqual(tag, self.s3_import(url, "--s3-endpoint", self.s3.endpoint, home=home2))
        self.assertEqual(self.files(tag), self.files(tag, home=home2))
        self.assert_model_matches(tag, manifest(src), home=home2, read_back=1)

    def test_zip_is_read_through_its_central_directory(self):
        # A zip's modes and directories are in its central directory, at the end: the S3 reader
        # seeks there and back, and a seek within a range already fetched costs no request.
        src = make_model_src(self.path("src"), weights_size=2 * MiB)
        tag = self.save("zipdemo:v1", src)
        url = self.s3_export(tag, "s3://%s/%s/" % (BUCKET, self.prefix), "--format", "zip")
        self.assertTrue(url.endswith("/zipdemo-v1.zip"), url)
        before = len(self.requests())
        home2 = self.path("home2")
        self.assertEqual(tag, self.s3_import(url, home=home2))
        gets = [r for r in self.requests()[before:] if r.startswith("GET ")]
        self.assertLessEqual(len(gets), 8, "too many ranged GETs for a 2 MiB zip: %r" % gets)
        files = self.files(tag, home=home2)
        self.assertEqual(self.files(tag), files)
        self.assertNotEqual(0, files["bin/run.sh"]["mode"] & 0o111, "executable bit lost")
        self.assert_model_matches(tag, manifest(src), home=home2, read_back=1)

    def test_large_model_multipart_upload_round_trip(self):
        src = make_tree(self.path("src"), files={"big.bin": 40 * MiB, "small.txt": b"hello\n"})
        tag = self.save("bigs3:v1", src)
        url = self.s3_export(tag, "s3://%s/%s/" % (BUCKET, self.prefix), "--format", "tar")
        self.assertTrue(url.endswith("/bigs3-v1.tar"), url)
        reqs = self.requests()
        self.assertTrue(any(r.startswith("POST ") and "uploads" in r for r in reqs),
                        "a 40 MiB export should start a multipart upload; requests: %r" % reqs[-20:])
        self.assertTrue(sum(1 for r in reqs if r.startswith("PUT ") and "partNumber=" in r) >= 2,
                        "expected several part uploads: %r" % reqs[-20:])
        home2 = self.path("home2")
        self.assertEqual(tag, self.s3_import(url, home=home2))
        self.assert_model_matches(tag, manifest(src), home=home2, read_back=True)
        self.assertEqual([], self.list_uploads(), "multipart uploads left open")

    def test_existing_object_refused_without_force(self):
        self.save("dup:v1", make_tree(self.path("a"), files={"w.bin": b"first\n"}))
        self.save("dup:v1", make_tree(self.path("b"), files={"w.bin": b"second!\n"}),
                  home=self.path("home_b"))
        dest = "s3://%s/%s/" % (BUCKET, self.prefix)
        url = self.s3_export("dup:v1", dest)
        obj = os.path.join(self.s3.directory, BUCKET, url.split("/", 3)[3] + "._S3rver_object")
        with open(obj, "rb") as f:
            first = f.read()
        r = self.mf("models", "export", "dup:v1", dest, home=self.path("home_b"))
        self.assert_error(r, ["exists", "force"])
        with open(obj, "rb") as f:
            self.assertEqual(first, f.read(), "refused export changed the object")
        self.s3_export("dup:v1", dest, "--force", home=self.path("home_b"))
        with open(obj, "rb") as f:
            self.assertNotEqual(first, f.read(), "--force did not replace the object")
        home3 = self.path("home3")
        self.s3_import(url, home=home3)
        self.assertEqual(b"second!\n", self.cat("dup:v1", "w.bin", home=home3))


class S3ErrorTest(S3TestCase):

    def setUp(self):
        super().setUp()
        self.save("err:v1", make_tree(self.path("src"), files={"w.bin": 64 * 1024}))
        self.url = self.s3_export("err:v1", "s3://%s/%s/" % (BUCKET, self.prefix))
        self.home2 = self.path("home2")
        self.save("other:v1", make_tree(self.path("src2"), files={"o.bin": b"other\n"}),
                  home=self.home2)

    def test_wrong_secret_missing_bucket_missing_key(self):
        before = self.state(home=self.home2)
        cases = [
            ("wrong secret", self.url, {"AWS_SECRET_ACCESS_KEY": "not-the-secret"},
             "credentials were refused"),
            ("missing bucket", "s3://no-such-bucket/%s/err-v1.bentomodel" % self.prefix, {},
             "bucket no-such-bucket does not exist"),
            ("missing key", "s3://%s/%s/nothing-here.bentomodel" % (BUCKET, self.prefix), {},
             "does not exist"),
        ]
        for what, url, env, words in cases:
            with self.subTest(what):
                r = self.mf("models", "import", url, home=self.home2, env_extra=env)
                self.assert_error(r, words)
        self.assert_state_unchanged(before, home=self.home2, what="after failed imports")
        with self.subTest("export with wrong secret"):
            r = self.mf("models", "export", "other:v1", "s3://%s/%s/x/" % (BUCKET, self.prefix),
                        home=self.home2, env_extra={"AWS_SECRET_ACCESS_KEY": "nope"})
            self.assert_error(r, "credentials were refused")
            self.assertEqual([], self.objects(self.prefix + "/x/"))

    def test_failed_exports_leave_no_object(self):
        dest = "s3://%s/%s/failed/" % (BUCKET, self.prefix)
        with self.subTest("unknown tag"):
            r = self.mf("models", "export", "nosuch:v9", dest)
            self.assert_error(r, "not found")
            self.assertEqual([], self.objects(self.prefix + "/failed/"))
        with self.subTest("missing bucket"):
            r = self.mf("models", "export", "err:v1", "s3://no-such-bucket/x/")
            self.assert_error(r, "bucket no-such-bucket does not exist")
        with self.subTest("upload fails"):
            self.set_faults([{"method": "PUT", "path_contains": "/failed/", "status": 500,
                              "times": 1000}])
            try:
                r = self.mf("models", "export", "err:v1", dest, timeout=120)
            finally:
                self.set_faults([])
            self.assert_error(r, ["500", "internal", "upload", "s3"])
            self.assertEqual([], self.objects(self.prefix + "/failed/"))
            self.assertEqual([], self.list_uploads(), "failed export left a multipart upload")
