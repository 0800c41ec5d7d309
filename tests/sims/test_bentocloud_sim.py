"""Tests of the BentoCloud simulator (tests/sims/bentocloud_sim.py). Standard library only.

The client side reproduces BentoML's push and pull (BENTOCLOUD-API.md) with urllib.
Run: python3 -m unittest discover -s tests/sims -p 'test_*.py'
"""

import concurrent.futures
import gzip
import hashlib
import http.client
import io
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bentocloud_sim import BentoCloudSim  # noqa: E402

KEY = "test-api-key"
BENTOML_VERSION = "1.3.20"
KiB = 1024
RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an HTTP proxy


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def h(self, name):
        return self.headers.get(name)


def call(url, method="GET", body=None, headers=None, token=KEY, version=BENTOML_VERSION):
    """One request through urllib; API headers unless token/version are None. Never raises on a status."""
    hdrs = {}
    if token is not None:
        hdrs["X-YATAI-API-TOKEN"] = token
    if version is not None:
        hdrs["X-Bentoml-Version"] = version
    if isinstance(body, (dict, list)):
        body, hdrs["Content-Type"] = json.dumps(body).encode(), "application/json"
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=body, method=method, headers=hdrs)
    try:
        with OPENER.open(req, timeout=20) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def bare(url, method="GET", body=None, headers=None):
    """A request to a presigned URL: no API headers (BentoML uses module-level httpx there)."""
    return call(url, method, body, headers, token=None, version=None)


def build_payload(root, files):
    """A model directory with model.yaml and files, tarred the way BentoML does."""
    d = tempfile.mkdtemp(dir=root)
    files = dict({"model.yaml": b"name: m\nmodule: sim\napi_version: v1\n"}, **files)
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
        with open(os.path.join(d, rel), "wb") as f:
            f.write(data)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        tar.add(d, arcname="./")
    return buf.getvalue(), files


class BentoClient:
    """BentoML's ModelAPI push/pull flow (client.py / model.py), step by step."""

    def __init__(self, endpoint, chunk=100 * 1024 * KiB, token=KEY):
        self.ep, self.chunk, self.token = endpoint, chunk, token

    def api(self, method, path, body=None):
        return call(self.ep + path, method, body, token=self.token)

    def model_path(self, repo, version):
        return "/api/v1/model_repositories/%s/models/%s" % (repo, version)

    def patch(self, repo, version, action, body=None):
        r = self.api("PATCH", self.model_path(repo, version) + "/" + action, body)
        assert r.status == 200, (action, r.status, r.body)
        return r.json()

    def push(self, repo, version, payload, build_at="2026-01-02 03:04:05.123456", labels=()):
        if self.api("GET", "/api/v1/model_repositories/" + repo).status == 404:
            r = self.api("POST", "/api/v1/model_repositories", {"name": repo, "description": ""})
            assert r.status == 200, r.body
        r = self.api("GET", self.model_path(repo, version))
        if r.status == 404:
            manifest = {"module": "sim", "api_version": "v1", "bentoml_version": BENTOML_VERSION,
                        "size_bytes": len(payload), "metadata": {}, "context": {}, "options": {}}
            r = self.api("POST", "/api/v1/model_repositories/%s/models" % repo,
                         {"description": "", "version": version, "manifest": manifest, "build_at": build_at,
                          "labels": [{"key": k, "value": v} for k, v in labels]})
            assert r.status == 200, r.body
        model, strategy, url = r.json(), "proxy", ""
        if model["transmission_strategy"] is not None:
            strategy = model["transmission_strategy"]
        else:
            url = self.patch(repo, version, "presign_upload_url")["presigned_upload_url"]
            strategy = "presigned_url" if url else strategy
        self.patch(repo, version, "start_upload")
        if strategy == "proxy":
            r = call(self.ep + self.model_path(repo, version) + "/upload", "PUT", payload,
                     {"Content-Type": "application/octet-stream"}, token=self.token)
            assert r.status == 200, r.body
            return self.api("GET", self.model_path(repo, version)).json()
        status, reason = self._upload_presigned(repo, version, payload, url)
        return self.patch(repo, version, "finish_upload", {"status": status, "reason": reason})

    def _upload_presigned(self, repo, version, payload, url):
        if url:
            r = bare(url, "PUT", payload)
            return ("success", "") if r.status == 200 else ("failed", r.body.decode())
        upload_id = self.patch(repo, version, "start_multipart_upload")["upload_id"]
        assert upload_id
        chunks = math.ceil(len(payload) / self.chunk)

        def part(n):
            u = self.patch(repo, version, "presign_multipart_upload_url",
                           {"upload_id": upload_id, "part_number": n})["presigned_upload_url"]
            r = bare(u, "PUT", payload[(n - 1) * self.chunk:n * self.chunk])
            assert r.status == 200, r.body
            return {"part_number": n, "etag": r.h("ETag")}

        with concurrent.futures.ThreadPoolExecutor(min(chunks, 10)) as pool:
            parts = list(pool.map(part, range(1, chunks + 1)))
        self.patch(repo, version, "complete_multipart_upload", {"parts": parts, "upload_id": upload_id})
        return "success", ""

    def pull(self, repo, version=None):
        if version is None:
            r = self.api("GET", "/api/v1/model_repositories/%s/models?start=0&count=10" % repo)
            assert r.status == 200 and r.json()["items"], r.body
            version = r.json()["items"][0]["version"]
        model = self.patch(repo, version, "presign_download_url")
        strategy, url = "proxy", ""
        if model["transmission_strategy"] is not None:
            strategy = model["transmission_strategy"]
        else:
            url = self.patch(repo, version, "presign_download_url")["presigned_download_url"]
            strategy = "presigned_url" if url else strategy
        if strategy == "presigned_url" and not url:
            url = self.patch(repo, version, "presign_download_url")["presigned_download_url"]
        if strategy == "proxy":
            r = self.api("GET", self.model_path(repo, version) + "/download")
        else:
            r = bare(url)
        assert r.status == 200, (r.status, r.body[:200])
        return r.body


class BentoCloudSimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bentocloudsim-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.sim = BentoCloudSim(env={}, api_key=KEY)
        cls.ep = cls.sim.start()
        cls.addClassCleanup(cls.sim.stop)
        rng = random.Random(7)
        cls.payload, cls.files = build_payload(cls.tmp, {"saved_model.bin": rng.randbytes(200 * KiB),
                                                         "sub/config.json": b'{"a": 1}\n'})

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.reset(data=True)
        self.sim.configure(strategy="presigned_url", fault="none", put_fault="none", fault_every=1,
                           min_part=5 * 1024 * KiB, auth_status=401, api_key=KEY, url_expires=3600, blob_base="",
                           slow_delay=1.0, slow_rate=1024 * KiB)
        self.client = BentoClient(self.ep)

    def tearDown(self):
        self.assertEqual(self.sim.stats()["errors"], [])

    def control(self, path, **params):
        r = bare(self.ep + path + ("?" + urllib.parse.urlencode(params) if params else ""))
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def stats(self):
        return self.control("/_stats")

    def warnings(self):
        return [w["warning"] for w in self.stats()["conformance"]]

    def presigned_get(self, repo="r", version="v1"):
        return self.client.patch(repo, version, "presign_download_url")["presigned_download_url"]

    def seed(self, repo="r", version="v1", data=None, **kw):
        return self.sim.add_model(repo, version, self.payload if data is None else data, **kw)

    # --- push / pull by strategy ------------------------------------------------------------------
    def test_push_pull_presigned_url(self):
        model = self.client.push("iris", "v1", self.payload)
        self.assertEqual((model["upload_status"], model["upload_finished_reason"]), ("success", ""))
        self.assertIsNone(model["transmission_strategy"])
        for k in ("created_at", "updated_at", "upload_started_at", "upload_finished_at", "build_at"):
            self.assertRegex(model[k], RFC3339NANO, k)
        self.assertEqual(model["build_at"], "2026-01-02T03:04:05.123456Z")
        st = self.stats()
        self.assertEqual(st["events"]["iris:v1"], ["create_model", "presign_upload_url", "start_upload",
                                                   "blob_put %d bytes" % len(self.payload), "finish_upload:success"])
        self.assertEqual(st["blobs"]["iris:v1"]["puts"], 1)
        self.assertEqual(st["bytes_uploaded"], len(self.payload))
        self.assertEqual(st["requests"]["blob_put"], 1)
        self.assertEqual(st["x_bentoml_versions"], {BENTOML_VERSION: st["requests_total"] - 1})
        self.assertEqual(self.client.pull("iris"), self.payload)
        st = self.stats()
        self.assertEqual((st["blobs"]["iris:v1"]["gets"], st["bytes_served"]), (1, len(self.payload)))
        self.assertEqual(st["requests"]["presign_download_url"], 2)
        self.assertEqual((st["conformance"], st["auth_seen_on_blob"]), ([], 0))
        repo = self.client.api("GET", "/api/v1/model_repositories/iris").json()
        self.assertEqual((repo["latest_model"]["version"], repo["resource_type"]), ("v1", "model_repository"))

    def test_push_pull_multipart(self):
        self.sim.configure(strategy="multipart", min_part=64 * KiB)
        client = BentoClient(self.ep, chunk=64 * KiB)
        model = client.push("mp", "v1", self.payload)
        self.assertEqual((model["upload_status"], model["transmission_strategy"]), ("success", "presigned_url"))
        parts = [self.payload[i:i + 64 * KiB] for i in range(0, len(self.payload), 64 * KiB)]
        self.assertGreaterEqual(len(parts), 3)
        etag = '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))
        self.assertEqual(self.sim.tar_members("mp", "v1")["etag"], etag)
        st = self.stats()
        self.assertEqual(st["requests"]["blob_part_put"], len(parts))
        self.assertEqual(st["conformance"], [])
        self.assertEqual(client.pull("mp", "v1"), self.payload)
        self.assertEqual(bare(self.presigned_get("mp")).h("ETag"), etag)
        self.assertEqual(self.control("/_state")["multipart_uploads"], {})

    def test_push_pull_proxy(self):
        self.sim.configure(strategy="proxy")
        model = self.client.push("px", "v1", self.payload)
        self.assertEqual((model["upload_status"], model["transmission_strategy"]), ("success", "proxy"))
        self.assertEqual(self.client.pull("px"), self.payload)
        st = self.stats()
        self.assertNotIn("finish_upload", st["requests"])
        self.assertEqual((st["blobs"]["px:v1"]["proxy_puts"], st["blobs"]["px:v1"]["proxy_gets"]), (1, 1))
        self.assertEqual(st["conformance"], [])
        old = call(self.ep + self.client.model_path("px", "v1") + "/presign_download_url", "PATCH", version="1.0.5")
        self.assertEqual((old.json()["presigned_download_url"], old.json()["presigned_urls_deprecated"]), ("", True))
        self.assertTrue(self.presigned_get("px").startswith(self.ep + "/_blob/px/v1?"))

    def test_push_pull_legacy_proxy(self):
        self.sim.configure(strategy="legacy_proxy")
        self.assertEqual(self.client.push("lp", "v1", self.payload)["upload_status"], "success")
        self.assertEqual(self.client.pull("lp"), self.payload)
        st = self.stats()
        self.assertEqual((st["requests"]["proxy_upload"], st["requests"]["proxy_download"]), (1, 1))
        self.assertEqual(st["requests"]["presign_download_url"], 2)

    def test_data_dir(self):
        data_dir = os.path.join(self.tmp, "data")
        sim = BentoCloudSim(env={}, api_key=KEY, data_dir=data_dir, strategy="multipart", min_part=64 * KiB)
        ep = sim.start()
        self.addCleanup(sim.stop)
        client = BentoClient(ep, chunk=64 * KiB)
        client.push("disk", "v1", self.payload)
        path = os.path.join(data_dir, "objects", "disk", "v1.tar")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.payload)
        self.assertEqual(os.listdir(os.path.join(data_dir, "tmp")), [])
        self.assertEqual(client.pull("disk"), self.payload)
        url = client.patch("disk", "v1", "presign_download_url")["presigned_download_url"]
        r = bare(url, headers={"Range": "bytes=1000-1999"})
        self.assertEqual((r.status, r.body), (206, self.payload[1000:2000]))
        sim.configure(fault="corrupt")
        self.assertNotEqual(bare(url).body, self.payload)
        self.assertEqual(sim.state()["repositories"]["disk"]["models"]["v1"]["object"]["stored"], "disk")
        sim.reset(data=True)
        self.assertFalse(os.path.exists(path))

    # --- blobs: ranges, signatures, lengths --------------------------------------------------------
    def test_ranges_and_conditions(self):
        self.seed()
        url, n = self.presigned_get(), len(self.payload)
        full = bare(url)
        self.assertEqual((full.status, full.h("Accept-Ranges"), full.h("Content-Length")), (200, "bytes", str(n)))
        etag = full.h("ETag")
        self.assertEqual(etag, '"%s"' % hashlib.md5(self.payload).hexdigest())
        for rng, (a, b) in (("bytes=10-19", (10, 19)), ("bytes=-5", (n - 5, n - 1)), ("bytes=%d-" % (n - 3),
                                                                                        (n - 3, n - 1))):
            r = bare(url, headers={"Range": rng})
            self.assertEqual((r.status, r.h("Content-Range"), r.body),
                             (206, "bytes %d-%d/%d" % (a, b, n), self.payload[a:b + 1]), rng)
        r = bare(url, headers={"Range": "bytes=%d-" % n})
        self.assertEqual((r.status, r.h("Content-Range")), (416, "bytes */%d" % n))
        self.assertIn(b"<Code>InvalidRange</Code>", r.body)
        self.assertEqual(bare(url, headers={"If-Match": '"0000"'}).status, 412)
        self.assertEqual(bare(url, headers={"If-Match": etag, "Range": "bytes=0-0"}).status, 206)
        self.assertEqual(bare(url, headers={"If-None-Match": etag}).status, 304)
        blob = self.stats()["blobs"]["r:v1"]
        self.assertEqual((blob["gets"], blob["range_gets"]), (5, 4))

    def test_signatures(self):
        self.seed()
        url = self.presigned_get()
        q = urllib.parse.urlsplit(url).query
        self.assertTrue(all(k in q for k in ("X-Amz-Algorithm=", "X-Amz-Expires=3600", "X-Amz-Signature=")))
        bad = re.sub(r"X-Amz-Signature=[0-9a-f]+", "X-Amz-Signature=" + "0" * 64, url)
        r = bare(bad)
        self.assertEqual(r.status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", r.body)
        self.assertEqual(bare(re.sub(r"&X-Amz-Signature=[0-9a-f]+", "", url)).status, 403)
        self.assertEqual(bare(url + "&extra=1").status, 403)
        self.assertEqual(bare(url, "PUT", b"x").status, 403)  # signed for GET
        self.assertEqual(bare(url.replace("/_blob/r/v1", "/_blob/r/v2")).status, 403)
        self.sim.configure(url_expires=-1)
        r = bare(self.presigned_get())
        self.assertEqual(r.status, 403)
        self.assertIn(b"expired", r.body)
        r = bare(url, headers={"Authorization": "Bearer x"})
        self.assertEqual(r.status, 400)
        self.assertIn(b"InvalidArgument", r.body)
        self.assertEqual(bare(url, headers={"X-YATAI-API-TOKEN": KEY}).status, 200)
        self.assertEqual(self.stats()["auth_seen_on_blob"], 2)
        self.sim.configure(url_expires=3600)
        r = bare(self.sim.presign("HEAD", "r", "v1"), "HEAD")
        self.assertEqual((r.status, r.h("Content-Length"), r.body), (200, str(len(self.payload)), b""))
        self.assertEqual(bare(url, "HEAD").status, 403)  # a GET URL does not sign HEAD
        self.control("/_config", blob_base="http://127.0.0.1:9/base/")
        self.assertTrue(self.presigned_get().startswith("http://127.0.0.1:9/base/_blob/r/v1?X-Amz-Algorithm="))
        self.control("/_config", blob_base=self.ep)
        self.assertEqual(bare(self.presigned_get()).body, self.payload)

    def test_blob_put_needs_content_length(self):
        self.client.push("r", "v0", self.payload)
        self.client.api("POST", "/api/v1/model_repositories/r/models",
                        {"description": "", "version": "v1", "manifest": {}, "build_at": "2026-01-01 00:00:00.000000",
                         "labels": []})
        url = self.client.patch("r", "v1", "presign_upload_url")["presigned_upload_url"]
        u = urllib.parse.urlsplit(url)
        target = u.path + "?" + u.query
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("PUT", target, body=iter([b"abc", b"def"]), encode_chunked=True)
        r = conn.getresponse()
        self.assertEqual((r.status, r.getheader("Connection")), (501, "close"))
        self.assertIn(b"NotImplemented", r.read())
        with socket.create_connection((u.hostname, u.port), timeout=10) as s:
            s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
            self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 411 "))
        r = bare(url, "PUT", b"abc", {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
        self.assertEqual(r.status, 400)
        self.assertIn(b"BadDigest", r.body)
        self.assertIsNone(self.sim.store.get(("r", "v1")))

    def test_multipart_complete_errors(self):
        self.sim.configure(strategy="multipart", min_part=64 * KiB)
        c = self.client
        c.push("r", "v0", self.payload)  # creates the repository
        c.api("POST", "/api/v1/model_repositories/r/models", {"description": "", "version": "v1", "manifest": {},
                                                             "build_at": "2026-01-01 00:00:00.000000", "labels": []})
        upload_id = c.patch("r", "v1", "start_multipart_upload")["upload_id"]
        etags = {}
        for n, size in ((1, 64 * KiB), (2, 10), (3, 64 * KiB)):
            url = c.patch("r", "v1", "presign_multipart_upload_url", {"upload_id": upload_id, "part_number": n})
            r = bare(url["presigned_upload_url"], "PUT", bytes([n]) * size)
            self.assertEqual(r.status, 200)
            etags[n] = r.h("ETag")
            self.assertEqual(etags[n], '"%s"' % hashlib.md5(bytes([n]) * size).hexdigest())

        def complete(parts, uid=upload_id):
            return c.api("PATCH", c.model_path("r", "v1") + "/complete_multipart_upload",
                         {"parts": [{"part_number": n, "etag": e} for n, e in parts], "upload_id": uid})
        for parts, code in (([(1, etags[1]), (2, etags[2]), (3, etags[3])], "EntityTooSmall"),
                            ([(1, etags[1]), (3, '"deadbeef"')], "InvalidPart"),
                            ([(3, etags[3]), (1, etags[1])], "InvalidPartOrder"),
                            ([], "MalformedXML")):
            r = complete(parts)
            self.assertEqual(r.status, 400, code)
            self.assertTrue(r.json()["error"].startswith("failed to complete multipart upload: " + code), r.body)
        self.assertIn("NoSuchUpload", complete([(1, etags[1])], "nope").json()["error"])
        fake = c.patch("r", "v1", "presign_multipart_upload_url", {"upload_id": "nope", "part_number": 1})
        self.assertEqual(bare(fake["presigned_upload_url"], "PUT", b"x").status, 404)
        r = complete([(1, etags[1]), (3, etags[3].strip('"'))])  # S3 accepts unquoted ETags
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.sim.store.get(("r", "v1")).size, 128 * KiB)

    # --- faults ------------------------------------------------------------------------------------
    def test_get_faults(self):
        self.seed()
        url, n = self.presigned_get(), len(self.payload)
        self.control("/_config", slow_delay=0.3, slow_rate=0)
        for fault in ("reset", "truncate", "corrupt", "500", "429", "slow"):
            self.control("/_config", fault=fault)
            t0 = time.monotonic()
            try:
                r = bare(url)
            except (http.client.IncompleteRead, ConnectionError) as e:
                self.assertIn(fault, ("reset", "truncate"), repr(e))
                continue
            self.assertNotIn(fault, ("reset", "truncate"))
            if fault == "corrupt":
                diff = [i for i in range(n) if r.body[i] != self.payload[i]]
                self.assertEqual((r.status, diff), (200, [n // 2]))
            elif fault == "slow":
                self.assertEqual((r.status, r.body), (200, self.payload))
                self.assertGreaterEqual(time.monotonic() - t0, 0.3)
            else:
                self.assertEqual(r.status, int(fault))
                if fault == "429":
                    self.assertEqual(r.h("Retry-After"), "1")
        self.control("/_config", fault="none")
        self.assertEqual(bare(url).body, self.payload)
        st = self.stats()
        self.assertEqual(st["faults"]["get"], {f: 1 for f in ("reset", "truncate", "corrupt", "500", "429", "slow")})
        self.assertEqual(st["faults_total"], 6)
        self.control("/_config", fault="500", fault_every=2)
        self.assertEqual([bare(url).status for _ in range(4)], [200, 500, 200, 500])
        self.control("/_config", strategy="proxy", fault_every=1)
        r = self.client.api("GET", self.client.model_path("r", "v1") + "/download")
        self.assertEqual((r.status, "error" in r.json()), (500, True))
        self.control("/_config", fault="none")
        self.assertEqual(self.client.pull("r"), self.payload)

    def test_put_faults(self):
        self.client.push("r", "v0", self.payload)
        self.client.api("POST", "/api/v1/model_repositories/r/models",
                        {"description": "", "version": "v1", "manifest": {}, "build_at": "2026-01-01 00:00:00.000000",
                         "labels": []})
        url = self.client.patch("r", "v1", "presign_upload_url")["presigned_upload_url"]
        for fault in ("reset", "500", "503"):
            self.control("/_config", put_fault=fault)
            try:
                r = bare(url, "PUT", self.payload)
            except (ConnectionError, http.client.HTTPException, urllib.error.URLError) as e:
                self.assertEqual(fault, "reset", repr(e))
                continue
            self.assertEqual(r.status, int(fault))
            if fault == "503":
                self.assertEqual(r.h("Retry-After"), "1")
            self.assertIsNone(self.sim.store.get(("r", "v1")))
        self.control("/_config", put_fault="none")
        self.assertEqual(bare(url, "PUT", self.payload).status, 200)
        self.assertEqual(self.stats()["faults"]["put"], {"reset": 1, "500": 1, "503": 1})

    # --- API errors, names, auth -------------------------------------------------------------------
    def test_auth(self):
        url = self.ep + "/api/v1/auth/current"
        r = call(url)
        self.assertEqual(r.status, 200)
        self.assertTrue({"name", "email", "first_name", "last_name"} <= r.json().keys())
        self.assertEqual(call(self.ep + "/api/v1/current_org").json()["resource_type"], "organization")
        for token in (None, "wrong"):
            r = call(url, token=token)
            self.assertEqual(r.status, 401)
            self.assertTrue({"error", "message"} <= r.json().keys())
        self.control("/_config", auth_status=403)
        self.assertEqual(call(url, token="wrong").status, 403)
        self.assertEqual(self.stats()["auth_failures"], 3)
        self.sim.configure(api_key="other")
        self.assertEqual(call(url, token="other").status, 200)

    def test_not_found_and_errors(self):
        api = self.client.api
        r = api("GET", "/api/v1/nope")
        self.assertEqual((r.status, r.json()), (404, {"message": "not found this router with method GET"}))
        self.assertEqual(api("DELETE", "/api/v1/model_repositories/x").status, 404)
        for path, msg in (("/api/v1/model_repositories/none", "get model repository: record not found"),
                          ("/api/v1/model_repositories/none/models/v1", "get model repository: record not found")):
            r = api("GET", path)
            self.assertEqual((r.status, r.json()["error"]), (404, msg))
        self.seed("r", "v1")
        r = api("GET", "/api/v1/model_repositories/r/models/v2")
        self.assertEqual((r.status, r.json()["error"]), (404, "get model: record not found"))
        self.assertEqual(api("PATCH", "/api/v1/model_repositories/r/models/v2/start_upload").status, 404)
        for name in ("Upper", "a b", "-a", "a-", "a/b", "a" * 64, "", 5):
            r = api("POST", "/api/v1/model_repositories", {"name": name, "description": ""})
            self.assertEqual(r.status, 400, name)
        self.assertEqual(api("POST", "/api/v1/model_repositories", {"name": "a" * 63, "description": ""}).status, 200)
        self.assertEqual(api("POST", "/api/v1/model_repositories", {"name": "r", "description": ""}).status, 400)
        base = {"description": "", "version": "v2", "manifest": {"module": "m", "api_version": "v1",
                "bentoml_version": "1", "size_bytes": 1, "metadata": {}, "context": {}, "options": {}}, "labels": []}
        for build_at in ("2026-01-01T00:00:00Z", "2026-01-01 00:00:00", "2026-01-01 00:00:00.1234567", None):
            r = api("POST", "/api/v1/model_repositories/r/models", dict(base, build_at=build_at))
            self.assertEqual(r.status, 400, build_at)
            self.assertIn("parse build at", r.json()["error"])
        dup = dict(base, version="v1", build_at="2026-01-01 00:00:00.000000")
        self.assertEqual(api("POST", "/api/v1/model_repositories/r/models", dup).status, 400)
        r = api("POST", "/api/v1/model_repositories/r/models", dict(base, build_at="2026-01-01 00:00:00.000000"))
        self.assertEqual((r.status, r.json()["build_at"]), (200, "2026-01-01T00:00:00Z"))
        self.assertEqual(api("POST", "/api/v1/model_repositories/r/models", {"version": "v3"}).status, 400)
        self.assertEqual(sum(w.startswith("build_at ") for w in self.warnings()), 4)

    def test_lists(self):
        self.seed("r", "a", build_at="2026-01-03 00:00:00.000000", labels=[{"key": "stage", "value": "prod"}])
        self.seed("r", "b", build_at="2026-01-05 00:00:00.000000")
        self.seed("r", "c", build_at="2026-01-04 00:00:00.000000", manifest={"module": "bentoml.pytorch"})
        self.seed("s", "x")
        api = self.client.api
        r = api("GET", "/api/v1/model_repositories/r/models?start=0&count=10").json()
        self.assertEqual(([m["version"] for m in r["items"]], r["total"], r["count"]), (["b", "c", "a"], 3, 10))
        r = api("GET", "/api/v1/model_repositories/r/models?start=1&count=1").json()
        self.assertEqual(([m["version"] for m in r["items"]], r["start"]), (["c"], 1))
        self.assertEqual(api("GET", "/api/v1/model_repositories/r/models").json()["count"], 3)
        self.assertEqual(api("GET", "/api/v1/model_repositories/r/models?start=-1").status, 400)
        self.assertEqual(api("GET", "/api/v1/model_repositories/r").json()["latest_model"]["version"], "c")
        r = api("GET", "/api/v1/models").json()
        self.assertEqual([m["version"] for m in r["items"]], ["x", "c", "b", "a"])
        self.assertEqual(r["items"][0]["repository"]["name"], "s")
        for q, want in (("label:stage=prod", ["a"]), ("-label:stage", ["x", "c", "b"]),
                        ("module:bentoml.pytorch", ["c"]), ("r sort:build_at-asc", ["a", "c", "b"])):
            r = api("GET", "/api/v1/models?" + urllib.parse.urlencode({"q": q})).json()
            self.assertEqual([m["version"] for m in r["items"]], want, q)
        self.assertEqual(len(api("GET", "/api/v1/model_repositories").json()["items"]), 2)

    # --- payload index, conformance, control endpoints ---------------------------------------------
    def test_tar_index(self):
        self.client.push("t", "v1", self.payload)
        out = self.control("/_tar/t/v1")
        self.assertEqual((out["size"], out["repo"]), (len(self.payload), "t"))
        by_name = {m["name"]: m for m in out["members"]}
        self.assertEqual(out["members"][0]["name"], ".")
        self.assertEqual(by_name["./sub"]["type"], "dir")
        for rel, data in self.files.items():
            m = by_name["./" + rel]
            self.assertEqual((m["type"], m["size"]), ("file", len(data)))
            self.assertEqual(self.payload[m["offset_data"]:m["offset_data"] + m["size"]], data, rel)
            self.assertLess(m["offset"], m["offset_data"])
        self.assertEqual(bare(self.ep + "/_tar/t/none").status, 404)
        self.sim.add_model("t", "junk", b"not a tar" * 100)
        self.assertEqual(bare(self.ep + "/_tar/t/junk").status, 400)

    def test_conformance_warnings(self):
        c = self.client
        c.push("w", "v0", self.payload)
        self.assertEqual(self.warnings(), [])
        c.api("POST", "/api/v1/model_repositories/w/models",
              {"version": "v1", "manifest": {"module": "m", "metadata": None},
               "build_at": "2026-01-01 00:00:00.000000"})
        url = c.patch("w", "v1", "presign_upload_url")["presigned_upload_url"]
        self.assertEqual(call(c.ep + c.model_path("w", "v1") + "/start_upload", "PATCH", {"x": 1}).status, 200)
        self.assertEqual(bare(url, "PUT", gzip.compress(self.payload), {"X-YATAI-API-TOKEN": KEY}).status, 200)
        c.patch("w", "v1", "finish_upload", {"status": "success", "reason": ""})
        c.patch("w", "v1", "finish_upload", {"status": "success", "reason": ""})
        self.assertEqual(call(c.ep + "/api/v1/auth/current", version=None).status, 200)
        tar_without_yaml = io.BytesIO()
        with tarfile.open(fileobj=tar_without_yaml, mode="w:") as tar:
            info = tarfile.TarInfo("weights.bin")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
        self.assertEqual(bare(url, "PUT", tar_without_yaml.getvalue()).status, 200)
        self.assertEqual(bare(url, "PUT", b"plain bytes").status, 200)
        text = "\n".join(self.warnings())
        for needle in ("lacks description, labels", "manifest lacks", "manifest.metadata is null",
                       "PATCH with a body", "carries X-YATAI-API-TOKEN", "gzip-compressed",
                       "finish_upload without start_upload", "without X-Bentoml-Version", "no ./model.yaml",
                       "not an uncompressed tar"):
            self.assertIn(needle, text)
        self.assertEqual(self.stats()["auth_seen_on_blob"], 1)

    def test_stats_log_state_reset(self):
        self.client.push("r", "v1", self.payload)
        st = self.stats()
        for k in ("requests", "requests_total", "auth_failures", "blobs", "bytes_served", "bytes_uploaded",
                  "auth_seen_on_blob", "faults", "faults_total", "x_bentoml_versions", "conformance", "events"):
            self.assertIn(k, st)
        log = self.control("/_log")
        self.assertEqual([e["route"] for e in log][:3], ["get_repository", "create_repository", "get_model"])
        self.assertEqual([e["status"] for e in log][:3], [404, 200, 404])
        self.assertEqual(len(log), st["requests_total"])
        self.assertEqual(self.control("/_log", since=log[-2]["seq"]), log[-1:])
        state = self.control("/_state")
        self.assertEqual(state["repositories"]["r"]["models"]["v1"]["object"]["size"], len(self.payload))
        self.assertEqual(state["config"]["strategy"], "presigned_url")
        self.control("/_reset")
        self.assertEqual(self.stats()["requests_total"], 0)
        self.assertEqual(self.client.api("GET", self.client.model_path("r", "v1")).status, 200)
        self.control("/_reset", data=1)
        self.assertEqual(self.client.api("GET", "/api/v1/model_repositories/r").status, 404)

    def test_config_and_seed(self):
        cfg = self.control("/_config")
        self.assertEqual((cfg["strategy"], cfg["min_part"], cfg["fault"]), ("presigned_url", 5 * 1024 * KiB, None))
        for params in ({"strategy": "nope"}, {"fault": "boom"}, {"min_part": "x"}, {"colour": "red"}):
            self.assertEqual(bare(self.ep + "/_config?" + urllib.parse.urlencode(params)).status, 400, params)
        r = bare(self.ep + "/_config", "POST", json.dumps({"min_part": 1234}).encode())
        self.assertEqual(r.json()["min_part"], 1234)
        r = bare(self.ep + "/_seed/seeded/v1?labels=stage=dev&build_at=2026-02-03T04:05:06Z", "PUT", self.payload)
        self.assertEqual((r.status, r.json()["upload_status"], r.json()["labels"]),
                         (200, "success", [{"key": "stage", "value": "dev"}]))
        self.assertEqual(r.json()["build_at"], "2026-02-03T04:05:06Z")
        self.assertEqual(self.client.pull("seeded"), self.payload)
        self.assertEqual(bare(self.ep + "/_nope").status, 404)

    def test_keep_alive(self):
        self.seed()
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.port, timeout=10)
        self.addCleanup(conn.close)
        hdrs = {"X-YATAI-API-TOKEN": KEY, "X-Bentoml-Version": BENTOML_VERSION}
        seen = set()
        for method, path, body, h, status in (
                ("GET", "/api/v1/auth/current", None, hdrs, 200), ("GET", "/api/v1/nope", None, hdrs, 404),
                ("PATCH", "/api/v1/model_repositories/r/models/v1/start_upload", b"{}" * 100, {}, 401),
                ("GET", "/api/v1/model_repositories/r/models/v9", None, hdrs, 404),
                ("PUT", "/api/v1/model_repositories/r/models/v1/upload", self.payload, hdrs, 200),
                ("GET", "/api/v1/model_repositories/r/models/v1/download", None, hdrs, 200)):
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            self.assertEqual(r.status, status, (path, data[:200]))
            seen.add(id(conn.sock))
        self.assertEqual(data, self.payload)
        self.assertEqual(len(seen), 1)

    def test_cli(self):
        port_file = os.path.join(self.tmp, "port.json")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "bentocloud_sim.py"), "--host", "127.0.0.1",
                                 "--port", "0", "--api-key", "cli-key", "--strategy", "proxy", "--min-part", "1024",
                                 "--port-file", port_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, BENTOCLOUD_FAULT="500"))
        try:
            info = json.loads(proc.stdout.readline())
            self.assertEqual(info["endpoint"], "http://127.0.0.1:%d" % info["port"])
            self.assertEqual(info["pid"], proc.pid)
            with open(port_file) as f:
                self.assertEqual(json.load(f), info)
            self.assertEqual(call(info["endpoint"] + "/api/v1/auth/current", token="cli-key").status, 200)
            cfg = json.loads(bare(info["endpoint"] + "/_config").body)
            self.assertEqual((cfg["strategy"], cfg["min_part"], cfg["fault"]), ("proxy", 1024, "500"))
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        self.assertEqual((proc.returncode, out, err), (0, b"", b""))


if __name__ == "__main__":
    unittest.main()
