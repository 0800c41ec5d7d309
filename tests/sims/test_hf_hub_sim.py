"""Tests of the Hugging Face Hub simulator (tests/sims/hf_hub_sim.py). Standard library only.

Run: python3 -m unittest discover -s tests/sims -p 'test_*.py'
"""

import gzip
import hashlib
import http.client
import http.server
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hf_hub_sim  # noqa: E402
from hf_hub_sim import HubSim, git_blob_sha1  # noqa: E402

MiB = 1 << 20


def _split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, (u.path or "/") + ("?" + u.query if u.query else "")


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def h(self, name):
        return self.headers.get(name.lower())


def request(url, method="GET", headers=None, conn=None, body=None):
    """One request; a new connection unless conn is given. Returns Resp (headers lower-cased)."""
    host, port, target = _split(url)
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if own:
            conn.close()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


class HubSimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hfsim-test-")
        rng = random.Random(1234)
        cls.big = rng.randbytes(3 * MiB)          # LFS by size
        cls.config = b'{"model_type": "bert", "hidden_size": 768}\n'
        cls.small_bin = rng.randbytes(1000)       # LFS by pattern (*.bin)
        cls.pr_config = b'{"model_type": "bert", "pr": 1}\n'
        d = os.path.join(cls.tmp, "repos")
        main = os.path.join(d, "org", "model", "main")
        write(os.path.join(main, "config.json"), cls.config)
        write(os.path.join(main, "model.safetensors"), cls.big)
        write(os.path.join(main, "sub", "dir", "weights.bin"), cls.small_bin)
        for i in range(120):
            write(os.path.join(main, "many", "f%03d.txt" % i), b"file %d\n" % i)
        write(os.path.join(d, "org", "model", "refs%2Fpr%2F1", "config.json"), cls.pr_config)
        write(os.path.join(d, "org", "model", ".sim.json"), b'{"aliases": {"v1.0": "main"}}')
        write(os.path.join(d, "org", "gated", "main", "model.safetensors"), cls.small_bin)
        write(os.path.join(d, "org", "gated", ".sim.json"), b'{"gated": "manual"}')
        write(os.path.join(d, "org", "private", "main", "config.json"), cls.config)
        write(os.path.join(d, "org", "private", ".sim.json"), b'{"private": true}')
        write(os.path.join(d, ".sim.json"),
              b'{"tokens": {"hf_all": null, "hf_limited": ["org/private"]},'
              b' "redirects": {"old-org/old-name": "org/model"}}')
        cls.repos_dir = d
        cls.sim = HubSim(d, page_size=50).start()
        cls.sim.add_repo("pyorg/repo", {"a.txt": b"hello\n", "w/x.dat": b"\x00" * 5000},
                         revisions={"dev": {"a.txt": b"dev\n"}}, lfs_threshold=4096)
        cls.ep = cls.sim.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.sim.reset()
        self.sim.configure(page_size=50, url_ttl=3600)

    def tearDown(self):
        self.assertEqual(self.sim.stats(include_requests=False)["errors"], [])

    def url(self, path):
        return self.ep + path

    def follow(self, url, headers=None):
        """GET following one absolute redirect without forwarding Authorization."""
        r = request(url, headers=headers)
        if r.status in (301, 302, 307):
            loc = urllib.parse.urljoin(url, r.h("Location"))
            hdrs = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
            return r, request(loc, headers=hdrs)
        return r, r

    # --- listing ------------------------------------------------------------------------------
    def test_revision_info(self):
        r = request(self.url("/api/models/org/model/revision/main"))
        self.assertEqual(r.status, 200)
        info = json.loads(r.body)
        self.assertEqual(info["id"], "org/model")
        self.assertRegex(info["sha"], r"^[0-9a-f]{40}$")
        self.assertEqual(info["sha"], self.sim.commit("org/model"))
        self.assertIs(info["private"], False)
        self.assertIs(info["gated"], False)
        names = [s["rfilename"] for s in info["siblings"]]
        self.assertIn("sub/dir/weights.bin", names)
        self.assertEqual(len(names), 123)
        self.assertNotIn("size", info["siblings"][0])
        info = json.loads(request(self.url("/api/models/org/model/revision/main?blobs=true")).body)
        sib = {s["rfilename"]: s for s in info["siblings"]}
        self.assertEqual(sib["model.safetensors"]["size"], len(self.big))
        self.assertEqual(sib["model.safetensors"]["lfs"]["sha256"], hashlib.sha256(self.big).hexdigest())
        self.assertEqual(sib["config.json"]["blobId"], git_blob_sha1(self.config))
        self.assertNotIn("lfs", sib["config.json"])
        # info without revision = main; by commit; alias shares the commit
        self.assertEqual(json.loads(request(self.url("/api/models/org/model")).body)["sha"], info["sha"])
        r = request(self.url("/api/models/org/model/revision/" + info["sha"]))
        self.assertEqual(json.loads(r.body)["sha"], info["sha"])
        self.assertEqual(json.loads(request(self.url("/api/models/org/model/revision/v1.0")).body)["sha"],
                         info["sha"])

    def list_tree(self, path, headers=None):
        url, pages, out = self.url(path), 0, []
        while url:
            r = request(url, headers=headers)
            self.assertEqual(r.status, 200, r.body)
            out.extend(json.loads(r.body))
            pages += 1
            link = r.h("Link")
            url = None
            if link:
                self.assertTrue(link.endswith('>; rel="next"'), link)
                url = link[1:link.index(">")]
                self.assertTrue(url.startswith("http://"), url)
        return out, pages

    def test_tree_pagination(self):
        sha = self.sim.commit("org/model")
        entries, pages = self.list_tree("/api/models/org/model/tree/%s?recursive=true" % sha)
        # 123 files + directories many, sub, sub/dir
        self.assertEqual(len(entries), 126)
        self.assertEqual(pages, 3)
        self.assertEqual(len({e["path"] for e in entries}), 126)
        by = {e["path"]: e for e in entries}
        self.assertEqual(by["sub"]["type"], "directory")
        self.assertRegex(by["sub"]["oid"], r"^[0-9a-f]{40}$")
        cfg = by["config.json"]
        self.assertEqual((cfg["type"], cfg["size"], cfg["oid"]), ("file", len(self.config), git_blob_sha1(self.config)))
        self.assertNotIn("lfs", cfg)
        st = by["model.safetensors"]
        self.assertEqual(st["lfs"]["oid"], hashlib.sha256(self.big).hexdigest())
        self.assertEqual(st["lfs"]["size"], len(self.big))
        self.assertEqual(st["size"], len(self.big))
        self.assertGreater(st["lfs"]["pointerSize"], 100)
        self.assertEqual(by["sub/dir/weights.bin"]["lfs"]["size"], 1000)
        # page size and limit
        self.sim.configure(page_size=1000)
        _, pages = self.list_tree("/api/models/org/model/tree/main?recursive=true")
        self.assertEqual(pages, 1)
        _, pages = self.list_tree("/api/models/org/model/tree/main?recursive=true&limit=10")
        self.assertEqual(pages, 13)
        # non-recursive, sub path
        top, _ = self.list_tree("/api/models/org/model/tree/main")
        self.assertEqual(sorted(e["path"] for e in top), ["config.json", "many", "model.safetensors", "sub"])
        sub, _ = self.list_tree("/api/models/org/model/tree/main/sub?recursive=true")
        self.assertEqual([e["path"] for e in sub], ["sub/dir", "sub/dir/weights.bin"])
        sub, _ = self.list_tree("/api/models/org/model/tree/main/sub")
        self.assertEqual([e["path"] for e in sub], ["sub/dir"])
        r = request(self.url("/api/models/org/model/tree/main/nope"))
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "EntryNotFound"))
        r = request(self.url("/api/models/org/model/tree/main?cursor=garbage"))
        self.assertEqual(r.status, 400)

    def test_revision_with_slash(self):
        r = request(self.url("/api/models/org/model/revision/refs%2Fpr%2F1"))
        self.assertEqual(r.status, 200)
        sha = json.loads(r.body)["sha"]
        self.assertNotEqual(sha, self.sim.commit("org/model"))
        self.assertEqual(sha, self.sim.commit("org/model", "refs/pr/1"))
        r = request(self.url("/org/model/resolve/refs%2Fpr%2F1/config.json"))
        self.assertEqual((r.status, r.body, r.h("X-Repo-Commit")), (200, self.pr_config, sha))
        entries, _ = self.list_tree("/api/models/org/model/tree/refs%2Fpr%2F1?recursive=true")
        self.assertEqual([e["path"] for e in entries], ["config.json"])
        # not encoded: "refs" is the revision, which does not exist
        r = request(self.url("/org/model/resolve/refs/pr/1/config.json"))
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"))

    def test_python_api_repo(self):
        r = request(self.url("/pyorg/repo/resolve/main/a.txt"))
        self.assertEqual(r.body, b"hello\n")
        r = request(self.url("/pyorg/repo/resolve/dev/a.txt"))
        self.assertEqual(r.body, b"dev\n")
        r = request(self.url("/pyorg/repo/resolve/main/w/x.dat"), "HEAD")
        self.assertEqual(r.status, 302)  # >= lfs_threshold 4096
        info = self.sim.file_info("pyorg/repo", "w/x.dat")
        self.assertTrue(info["lfs"])
        self.assertEqual(info["sha256"], hashlib.sha256(b"\x00" * 5000).hexdigest())
        _, r2 = self.follow(self.url("/pyorg/repo/resolve/main/w/x.dat"))
        self.assertEqual(r2.body, b"\x00" * 5000)

    # --- resolve ------------------------------------------------------------------------------
    def test_head_small_file(self):
        r = request(self.url("/org/model/resolve/main/config.json"), "HEAD",
                    {"Accept-Encoding": "identity", "Authorization": "Bearer hf_all"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("X-Repo-Commit"), self.sim.commit("org/model"))
        self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % git_blob_sha1(self.config))
        self.assertEqual(r.h("ETag"), '"%s"' % git_blob_sha1(self.config))
        self.assertEqual(r.h("X-Linked-Size"), str(len(self.config)))
        self.assertEqual(r.h("Content-Length"), str(len(self.config)))
        self.assertEqual(r.h("Accept-Ranges"), "bytes")
        self.assertEqual(r.body, b"")
        self.assertEqual(self.sim.bytes_sent("org/model", "config.json"), 0)

    def test_head_lfs_file(self):
        r = request(self.url("/org/model/resolve/main/model.safetensors"), "HEAD",
                    {"Accept-Encoding": "identity"})
        self.assertEqual(r.status, 302)
        sha256 = hashlib.sha256(self.big).hexdigest()
        self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % sha256)
        self.assertEqual(r.h("X-Linked-Size"), str(len(self.big)))
        self.assertEqual(r.h("X-Repo-Commit"), self.sim.commit("org/model"))
        loc = r.h("Location")
        self.assertTrue(loc.startswith(self.sim.cdn_endpoint + "/org/model/" + sha256 + "?"), loc)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
        self.assertIn("sig", q)
        self.assertIn("exp", q)
        self.assertNotEqual(self.sim.cdn_port, self.sim.hub_port)

    def test_lfs_redirect_and_cdn_signature(self):
        url = self.url("/org/model/resolve/main/model.safetensors")
        r1, r2 = self.follow(url, {"Authorization": "Bearer hf_all"})
        self.assertEqual(r1.status, 302)
        self.assertTrue(r1.body.startswith(b"Found. Redirecting to http://"))
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.body, self.big)
        self.assertEqual(r2.h("Content-Length"), str(len(self.big)))
        loc = r1.h("Location")
        self.assertEqual(self.sim.cdn_auth_headers, [])
        st = self.sim.stats()
        self.assertEqual(st["files"]["org/model/model.safetensors"]["cdn_bytes"], len(self.big))
        self.assertEqual(st["files"]["org/model/model.safetensors"]["hub_bytes"], 0)
        self.assertEqual(st["blobs"][hashlib.sha256(self.big).hexdigest()]["cdn_requests"], 1)
        self.assertEqual(self.sim.bytes_sent("org/model", "model.safetensors", "cdn"), len(self.big))
        # bad, missing, expired signatures
        bad = loc.replace("sig=", "sig=0")
        self.assertEqual(request(bad).status, 403)
        self.assertEqual(request(loc.split("?")[0]).status, 403)
        expired = self.sim.cdn_url("org/model", "model.safetensors", ttl=-5)
        self.assertEqual(request(expired).status, 403)
        other_blob = loc.replace("/org/model/", "/org/gated/")
        self.assertEqual(request(other_blob).status, 403)  # signature covers the path
        # an Authorization header reaching the CDN is recorded
        r = request(loc, headers={"Authorization": "Bearer hf_all", "Range": "bytes=0-9"})
        self.assertEqual(r.status, 206)
        self.assertEqual(len(self.sim.cdn_auth_headers), 1)
        self.assertEqual(self.sim.cdn_auth_headers[0]["authorization"], "Bearer hf_all")

    def test_range(self):
        size = len(self.big)
        loc = self.sim.cdn_url("org/model", "model.safetensors")
        r = request(loc, headers={"Range": "bytes=100-199"})
        self.assertEqual((r.status, r.body, r.h("Content-Range")), (206, self.big[100:200], "bytes 100-199/%d" % size))
        self.assertEqual(r.h("Content-Length"), "100")
        r = request(loc, headers={"Range": "bytes=-10"})
        self.assertEqual((r.status, r.body), (206, self.big[-10:]))
        r = request(loc, headers={"Range": "bytes=%d-" % (size - 5)})
        self.assertEqual((r.status, r.body), (206, self.big[-5:]))
        r = request(loc, headers={"Range": "bytes=%d-%d" % (size - 5, size + 100)})
        self.assertEqual((r.status, r.h("Content-Range")), (206, "bytes %d-%d/%d" % (size - 5, size - 1, size)))
        r = request(loc, headers={"Range": "bytes=%d-" % size})
        self.assertEqual((r.status, r.h("Content-Range")), (416, "bytes */%d" % size))
        r = request(loc, headers={"Range": "bytes=0-1,5-6"})  # multi-range: ignored
        self.assertEqual((r.status, len(r.body)), (200, size))
        # non-LFS files answer ranges on the hub itself
        r = request(self.url("/org/model/resolve/main/config.json"), headers={"Range": "bytes=2-5"})
        self.assertEqual((r.status, r.body, r.h("X-Repo-Commit")), (206, self.config[2:6], self.sim.commit("org/model")))
        r = request(self.url("/org/model/resolve/main/config.json"), headers={"Range": "bytes=9999-"})
        self.assertEqual((r.status, r.h("Content-Range")), (416, "bytes */%d" % len(self.config)))
        self.assertEqual(self.sim.bytes_sent("org/model", "config.json"), 4)
        self.assertEqual(self.sim.bytes_sent("org/model", "model.safetensors"), 100 + 10 + 5 + 5 + size)
        ranges = [e["range"] for e in self.sim.requests("cdn")]
        self.assertEqual(ranges[0], "bytes=100-199")

    def test_gzip_only_when_asked(self):
        url = self.url("/org/model/resolve/main/config.json")
        r = request(url, headers={"Accept-Encoding": "gzip, deflate"})
        self.assertEqual(r.h("Content-Encoding"), "gzip")
        self.assertIsNone(r.h("Content-Length"))
        self.assertEqual(gzip.decompress(r.body), self.config)
        self.assertEqual(r.h("X-Linked-Size"), str(len(self.config)))
        r = request(url, headers={"Accept-Encoding": "identity"})
        self.assertIsNone(r.h("Content-Encoding"))
        self.assertEqual(r.body, self.config)

    # --- auth and errors ----------------------------------------------------------------------
    def test_errors(self):
        def check(path, status, code, headers=None, method="GET"):
            r = request(self.url(path), method, headers)
            self.assertEqual((r.status, r.h("X-Error-Code")), (status, code), (path, headers, r.body))
            return r

        check("/api/models/org/nope/revision/main", 401, "RepoNotFound")
        check("/api/models/org/nope/revision/main", 404, "RepoNotFound", {"Authorization": "Bearer hf_all"})
        check("/org/nope/resolve/main/config.json", 401, "RepoNotFound", method="HEAD")
        check("/api/models/org/private/revision/main", 401, "RepoNotFound")
        check("/org/private/resolve/main/config.json", 401, "RepoNotFound")
        check("/org/private/resolve/main/config.json", 200, None, {"Authorization": "Bearer hf_limited"})
        # gated: metadata readable, downloads refused
        r = check("/api/models/org/gated/revision/main", 200, None)
        self.assertEqual(json.loads(r.body)["gated"], "manual")
        r = check("/org/gated/resolve/main/model.safetensors", 401, "GatedRepo", method="HEAD")
        self.assertIn("Access to model org/gated is restricted", r.h("X-Error-Message"))
        r = check("/org/gated/resolve/main/model.safetensors", 403, "GatedRepo", {"Authorization": "Bearer hf_limited"})
        self.assertIn("not in the authorized list", r.h("X-Error-Message"))
        check("/org/gated/resolve/main/model.safetensors", 302, None, {"Authorization": "Bearer hf_all"})
        # wrong token
        r = request(self.url("/api/models/org/model/revision/main"), headers={"Authorization": "Bearer hf_wrong"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.h("X-Error-Message"), "Invalid credentials in Authorization header")
        self.assertIn(b"Invalid credentials in Authorization header", r.body)
        # revision, file
        r = check("/org/model/resolve/nope/config.json", 404, "RevisionNotFound")
        r = check("/api/models/org/model/revision/nope", 404, "RevisionNotFound")
        r = check("/org/model/resolve/main/nope.json", 404, "EntryNotFound", method="HEAD")
        self.assertEqual(r.h("X-Repo-Commit"), self.sim.commit("org/model"))
        # the sim config can hide gated metadata too
        self.sim.configure(gated_metadata_public=False)
        try:
            check("/api/models/org/gated/revision/main", 401, "GatedRepo")
        finally:
            self.sim.configure(gated_metadata_public=True)

    def test_renamed_repo(self):
        r = request(self.url("/old-org/old-name/resolve/refs%2Fpr%2F1/config.json"), "HEAD")
        self.assertEqual(r.status, 307)
        self.assertEqual(r.h("Location"), "/org/model/resolve/refs%2Fpr%2F1/config.json")
        r = request(self.url("/api/models/old-org/old-name/tree/main?recursive=true"))
        self.assertEqual((r.status, r.h("Location")), (307, "/api/models/org/model/tree/main?recursive=true"))
        r = request(self.url(r.h("Location")))
        self.assertEqual(r.status, 200)

    # --- connections --------------------------------------------------------------------------
    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.hub_port, timeout=10)
        for i in range(10):
            r = request(self.url("/org/model/resolve/main/config.json"), "HEAD", conn=conn)
            self.assertEqual(r.status, 200)
            r = request(self.url("/org/model/resolve/main/model.safetensors"), "GET", conn=conn)
            self.assertEqual(r.status, 302)
            r = request(self.url("/api/models/org/model/revision/main"), conn=conn)
            self.assertEqual(r.status, 200)
        conn.close()
        loc = self.sim.cdn_url("org/model", "model.safetensors")
        conn = http.client.HTTPConnection("127.0.0.1", self.sim.cdn_port, timeout=10)
        for i in range(20):
            r = request(loc, headers={"Range": "bytes=%d-%d" % (i * 1000, i * 1000 + 999)}, conn=conn)
            self.assertEqual(r.body, self.big[i * 1000:i * 1000 + 1000])
        conn.close()
        st = self.sim.stats(include_requests=False)
        self.assertEqual((st["hub"]["connections"], st["hub"]["requests"]), (1, 30))
        self.assertEqual((st["cdn"]["connections"], st["cdn"]["requests"]), (1, 20))

    def test_concurrent_ranges(self):
        loc = self.sim.cdn_url("org/model", "model.safetensors")
        seg = 96 * 1024
        results = {}

        def worker(i):
            r = request(loc, headers={"Range": "bytes=%d-%d" % (i * seg, (i + 1) * seg - 1)})
            results[i] = r.body

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(b"".join(results[i] for i in range(32)), self.big[:32 * seg])
        self.assertEqual(self.sim.bytes_sent("org/model", "model.safetensors"), 32 * seg)
        self.assertEqual(self.sim.connections("cdn"), 32)

    # --- faults -------------------------------------------------------------------------------
    def cdn_get(self, rng=None):
        loc = self.sim.cdn_url("org/model", "model.safetensors")
        host, port, target = _split(loc)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", target, headers={"Range": rng} if rng else {})
        return conn, conn.getresponse()

    def test_fault_reset(self):
        self.sim.add_fault("reset", "*.safetensors", after_bytes=100000, server="cdn")
        conn, r = self.cdn_get()
        self.assertEqual(r.status, 200)
        got = bytearray()
        with self.assertRaises((ConnectionResetError, http.client.IncompleteRead)):
            while True:
                b = r.read1(65536)
                if not b:
                    raise http.client.IncompleteRead(bytes(got))
                got += b
        conn.close()
        self.assertLessEqual(len(got), 100000)
        self.assertEqual(bytes(got), self.big[:len(got)])
        self.assertEqual(self.sim.bytes_sent("org/model", "model.safetensors"), 100000)
        self.assertEqual(self.sim.requests("cdn")[-1]["fault"], "reset")
        conn, r = self.cdn_get()  # count=1: consumed
        self.assertEqual(r.read(), self.big)
        conn.close()

    def test_fault_truncate(self):
        self.sim.add_fault("truncate", "model.safetensors", after_bytes=12345)
        conn, r = self.cdn_get("bytes=0-99999")
        self.assertEqual(r.getheader("Content-Length"), "100000")
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(cm.exception.partial, self.big[:12345])
        conn.close()
        self.assertEqual(self.sim.faults(), [])

    def test_fault_status_and_skip_and_count(self):
        url = self.url("/org/model/resolve/main/config.json")
        self.sim.add_fault("status", "config.json", count=2, skip=1, status=500)
        self.assertEqual([request(url).status for _ in range(4)], [200, 500, 500, 200])
        self.sim.add_fault("503", "*", server="cdn")
        self.assertEqual(request(url).status, 200)  # the hub is not affected
        conn, r = self.cdn_get()
        self.assertEqual(r.status, 503)
        conn.close()

    def test_fault_rate_limit(self):
        self.sim.add_fault("rate_limit", "/api/*", retry_after=3)
        r = request(self.url("/api/models/org/model/revision/main"))
        self.assertEqual((r.status, r.h("Retry-After")), (429, "3"))
        self.assertIn("t=3", r.h("RateLimit"))
        self.assertIn("w=300", r.h("RateLimit-Policy"))
        self.assertEqual(request(self.url("/api/models/org/model/revision/main")).status, 200)

    def test_fault_corrupt(self):
        self.sim.add_fault("corrupt", "*.safetensors", offset=1000)
        conn, r = self.cdn_get("bytes=500-1499")
        body = r.read()
        conn.close()
        self.assertEqual(len(body), 1000)
        diff = [i for i in range(1000) if body[i] != self.big[500 + i]]
        self.assertEqual(diff, [500])
        self.assertEqual(body[500], self.big[1000] ^ 0xFF)
        # default: the first byte of the body; non-LFS files on the hub too
        self.sim.add_fault("corrupt", "config.json")
        r = request(self.url("/org/model/resolve/main/config.json"))
        self.assertEqual((r.body[0], r.body[1:]), (self.config[0] ^ 0xFF, self.config[1:]))

    def test_fault_shift(self):
        self.sim.add_fault("shift", "*.safetensors", count=2, by=4096)
        conn, r = self.cdn_get("bytes=10000-19999")
        self.assertEqual((r.status, r.getheader("Content-Range")),
                         (206, "bytes 10000-19999/%d" % len(self.big)))
        self.assertEqual(r.read(), self.big[10000 - 4096:20000 - 4096])
        conn.close()
        # from byte 0 at most
        conn, r = self.cdn_get("bytes=1000-1999")
        self.assertEqual(r.read(), self.big[0:1000])
        conn.close()
        conn, r = self.cdn_get("bytes=10000-19999")
        self.assertEqual(r.read(), self.big[10000:20000])
        conn.close()

    def test_fault_slow(self):
        self.sim.add_fault("slow", "*.safetensors", rate=1 * MiB)
        t0 = time.monotonic()
        conn, r = self.cdn_get("bytes=0-262143")
        self.assertEqual(r.read(), self.big[:262144])
        conn.close()
        self.assertGreater(time.monotonic() - t0, 0.2)
        self.sim.add_fault("slow", "config.json", delay=0.3)
        t0 = time.monotonic()
        self.assertEqual(request(self.url("/org/model/resolve/main/config.json")).status, 200)
        self.assertGreater(time.monotonic() - t0, 0.28)

    def test_fault_html_and_json_garbage(self):
        self.sim.add_fault("html", "/api/*")
        r = request(self.url("/api/models/org/model/revision/main"))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.h("Content-Type").startswith("text/html"))
        self.assertIn(b"<html", r.body)
        self.sim.add_fault("json_garbage", "*/tree/*")
        r = request(self.url("/api/models/org/model/tree/main"))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.h("Content-Type").startswith("application/json"))
        with self.assertRaises(ValueError):
            json.loads(r.body)
        # an HTML page instead of file content (the "635-byte error body" case)
        self.sim.add_fault("html", "config.json")
        r = request(self.url("/org/model/resolve/main/config.json"))
        self.assertIn(b"<html", r.body)
        self.assertEqual(self.sim.stats()["fault_hits"][0]["kind"], "html")

    def test_fault_size_mismatch(self):
        self.sim.add_fault("size_mismatch", "model.safetensors", count=None, delta=7)
        entries, _ = self.list_tree("/api/models/org/model/tree/main")
        by = {e["path"]: e for e in entries}
        self.assertEqual(by["model.safetensors"]["size"], len(self.big) + 7)
        self.assertEqual(by["model.safetensors"]["lfs"]["size"], len(self.big) + 7)
        self.assertEqual(by["config.json"]["size"], len(self.config))
        info = json.loads(request(self.url("/api/models/org/model/revision/main?blobs=true")).body)
        sib = {s["rfilename"]: s for s in info["siblings"]}
        self.assertEqual(sib["model.safetensors"]["size"], len(self.big) + 7)
        r = request(self.url("/org/model/resolve/main/model.safetensors"), "HEAD")
        self.assertEqual(r.h("X-Linked-Size"), str(len(self.big) + 7))
        self.sim.clear_faults()
        self.sim.add_fault("size_mismatch", "config.json", size=3)
        r = request(self.url("/org/model/resolve/main/config.json"))
        self.assertEqual((r.h("X-Linked-Size"), r.body), ("3", self.config))

    def test_fault_ignore_range_and_drop(self):
        self.sim.add_fault("ignore_range", "*.safetensors")
        conn, r = self.cdn_get("bytes=10-19")
        self.assertEqual((r.status, len(r.read())), (200, len(self.big)))
        conn.close()
        self.sim.add_fault("drop", "config.json")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            request(self.url("/org/model/resolve/main/config.json"))
        self.assertEqual(request(self.url("/org/model/resolve/main/config.json")).status, 200)

    def test_fault_stall(self):
        # after_bytes: that much of the body, then silence on an open connection
        self.sim.add_fault("stall", "*.safetensors", after_bytes=1000, seconds=0.5, server="cdn")
        conn, r = self.cdn_get("bytes=0-99999")
        self.assertEqual(r.getheader("Content-Length"), "100000")
        t0 = time.monotonic()
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(cm.exception.partial, self.big[:1000])
        self.assertGreater(time.monotonic() - t0, 0.45)
        conn.close()
        # no after_bytes: the request is read and never answered
        self.sim.add_fault("stall", "config.json", seconds=0.5)
        t0 = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            request(self.url("/org/model/resolve/main/config.json"))
        self.assertGreater(time.monotonic() - t0, 0.45)
        self.assertEqual(request(self.url("/org/model/resolve/main/config.json")).status, 200)

    def test_fault_body_faults_need_a_body(self):
        # a reset armed for *.safetensors is not consumed by the hub's redirect or by a HEAD
        self.sim.add_fault("reset", "*.safetensors")
        self.assertEqual(request(self.url("/org/model/resolve/main/model.safetensors")).status, 302)
        self.assertEqual(request(self.url("/org/model/resolve/main/model.safetensors"), "HEAD").status, 302)
        self.assertEqual(len(self.sim.faults()), 1)
        with self.assertRaises(Exception):
            self.follow(self.url("/org/model/resolve/main/model.safetensors"))
        self.assertEqual(self.sim.faults(), [])

    def test_bad_fault(self):
        with self.assertRaises(ValueError):
            self.sim.add_fault("explode")
        with self.assertRaises(ValueError):
            self.sim.add_fault("reset", after_byte=3)

    # --- control endpoints --------------------------------------------------------------------
    def test_control_endpoints(self):
        post = lambda path, obj=None: request(self.url(path), "POST", {"Content-Type": "application/json"},
                                              body=json.dumps(obj).encode() if obj is not None else None)
        r = post("/_sim/faults", [{"kind": "status", "path": "config.json", "status": 502, "count": 1},
                                  {"kind": "reset", "path": "*.safetensors", "after_bytes": 10}])
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(len(json.loads(r.body)["ids"]), 2)
        faults = json.loads(request(self.url("/_sim/faults")).body)["faults"]
        self.assertEqual([f["kind"] for f in faults], ["status", "reset"])
        self.assertEqual(request(self.url("/org/model/resolve/main/config.json")).status, 502)
        self.assertEqual(request(self.url("/_sim/faults"), "DELETE").status, 200)
        self.assertEqual(self.sim.faults(), [])
        post("/_sim/faults", {"kind": "500"})
        self.assertEqual(post("/_sim/faults/clear").status, 200)
        self.assertEqual(self.sim.faults(), [])
        request(self.url("/org/model/resolve/main/config.json"), headers={"Range": "bytes=0-3"})
        st = json.loads(request(self.url("/_sim/stats")).body)
        self.assertEqual(st["files"]["org/model/config.json"]["hub_bytes"], 4)
        self.assertEqual(st["hub"]["connections"], 2)  # control connections are not counted
        reqs = [e for e in st["requests"] if e["file"] == "org/model/config.json"]
        self.assertEqual(reqs[-1]["range"], "bytes=0-3")
        self.assertEqual(reqs[-1]["status"], 206)
        self.assertEqual(reqs[-1]["headers"]["Range"], "bytes=0-3")
        st2 = json.loads(request(self.url("/_sim/stats?requests=0")).body)
        self.assertNotIn("requests", st2)
        self.assertEqual(len(json.loads(request(self.url("/_sim/stats?since=%d" % reqs[-1]["seq"])).body)["requests"]), 0)
        repos = json.loads(request(self.url("/_sim/repos")).body)
        self.assertEqual(repos["org/model"]["revisions"]["main"]["commit"], self.sim.commit("org/model"))
        self.assertEqual(repos["org/model"]["revisions"]["main"]["files"]["model.safetensors"]["sha256"],
                         hashlib.sha256(self.big).hexdigest())
        self.assertEqual(post("/_sim/config", {"page_size": 7}).status, 200)
        self.assertEqual(self.sim.page_size, 7)
        self.assertEqual(post("/_sim/reset").status, 200)
        st = json.loads(request(self.url("/_sim/stats")).body)
        self.assertEqual((st["files"], st["requests"], st["hub"]["requests"]), ({}, [], 0))
        self.assertEqual(post("/_sim/faults", {"kind": "nope"}).status, 400)
        self.assertEqual(request(self.url("/_sim/nope")).status, 404)

    # --- CLI ----------------------------------------------------------------------------------
    def test_cli(self):
        pf = os.path.join(self.tmp, "ports.json")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "hf_hub_sim.py"), "--repos-dir", self.repos_dir,
                                 "--port", "0", "--cdn-port", "0", "--port-file", pf, "--token", "hf_cli",
                                 "--redirect", "a/b=org/model"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(pf) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            with open(pf) as f:
                ports = json.load(f)
            self.assertEqual(ports["pid"], proc.pid)
            ep = ports["endpoint"]
            self.assertEqual(ep, "http://127.0.0.1:%d" % ports["hub_port"])
            r = request(ep + "/org/private/resolve/main/config.json", headers={"Authorization": "Bearer hf_cli"})
            self.assertEqual((r.status, r.body), (200, self.config))
            r = request(ep + "/org/model/resolve/main/model.safetensors", "HEAD")
            self.assertTrue(r.h("Location").startswith("http://127.0.0.1:%d/" % ports["cdn_port"]))
            self.assertEqual(request(ep + "/a/b/resolve/main/config.json").status, 307)
            st = json.loads(request(ep + "/_sim/stats").body)
            self.assertEqual(st["hub"]["requests"], 3)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual((out, err), (b"", b""))

    # --- external CDN (cdn_base) ---------------------------------------------------------------
    def test_cdn_base_layout(self):
        root = os.path.join(self.tmp, "cdnroot")
        n = self.sim.layout_cdn_dir(root, "symlink")
        self.assertGreaterEqual(n, 3)
        target = os.path.join(root, "org", "model", hashlib.sha256(self.big).hexdigest())
        self.assertTrue(os.path.islink(target))

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=root, **k)

            def log_message(self, *a):
                pass

        static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=static.serve_forever, daemon=True).start()
        base = "http://127.0.0.1:%d/" % static.server_address[1]
        try:
            with HubSim(self.repos_dir, cdn_base=base) as sim2:
                self.assertIsNone(sim2.cdn_port)
                r = request(sim2.endpoint + "/org/model/resolve/main/model.safetensors", "HEAD")
                self.assertTrue(r.h("Location").startswith(base + "org/model/"), r.h("Location"))
                r1, r2 = self.follow(sim2.endpoint + "/org/model/resolve/main/model.safetensors")
                self.assertEqual((r2.status, r2.body), (200, self.big))
                conf = HubSim.nginx_conf(root, 8080, prefix=self.tmp)
                self.assertIn("listen 127.0.0.1:8080;", conf)
        finally:
            static.shutdown()
            static.server_close()

    # --- throughput ---------------------------------------------------------------------------
    def test_throughput_large_file(self):
        path = os.path.join(self.tmp, "large.bin")
        size = 256 * MiB
        with open(path, "wb") as f:
            f.truncate(size)  # sparse: no disk, hashing and sendfile are fast
        self.sim.add_repo("big/file", {"large.safetensors": path})
        loc = self.sim.cdn_url("big/file", "large.safetensors")
        host, port, target = _split(loc)
        conn = http.client.HTTPConnection(host, port, timeout=20)
        t0 = time.monotonic()
        conn.request("GET", target)
        r = conn.getresponse()
        buf = bytearray(4 * MiB)
        total = 0
        while True:
            n = r.readinto(buf)
            if not n:
                break
            total += n
        dt = time.monotonic() - t0
        conn.close()
        self.assertEqual(total, size)
        self.assertEqual(self.sim.bytes_sent("big/file", "large.safetensors"), size)
        # generous floor (the client side here is Python); the server uses sendfile
        self.assertGreater(size / dt, 200e6, "%.0f MB/s" % (size / dt / 1e6))
        self.sim.remove_repo("big/file")


if __name__ == "__main__":
    unittest.main()
