#!/usr/bin/env python3
"""Hugging Face Hub simulator for modelfs tests (Python 3 standard library only).

Importable (``from hf_hub_sim import HubSim``) and runnable (``python3 hf_hub_sim.py --help``).
Two ThreadingHTTPServer HTTP/1.1 (keep-alive) servers on 127.0.0.1, ephemeral ports:

HUB (``HubSim.endpoint`` = the value for HF_ENDPOINT)
  GET  /api/models/{repo}                              model info of "main"
  GET  /api/models/{repo}/revision/{rev}[?blobs=true]   {_id, id, modelId, author, sha, private,
        gated (false|"auto"|"manual"), lastModified, siblings[{rfilename}], usedStorage, ...};
        with blobs=true siblings also carry size, blobId (git oid) and, for LFS files,
        lfs {sha256, size, pointerSize}
  GET  /api/models/{repo}/tree/{rev}[/{dir}][?recursive=true][&limit=N][&cursor=C]
        [{type:"file", oid, size, path[, lfs{oid (sha256), size, pointerSize}]} |
         {type:"directory", oid, size:0, path}], sorted by path, pages of `page_size` (default 50;
        ?limit= overrides) with `Link: <http://HOST/...&cursor=C>; rel="next"` (absolute URL,
        other query parameters kept). Bad cursor: 400.
  HEAD|GET /{repo}/resolve/{rev}/{path}
        small (non-LFS) file: 200 with the bytes; Range -> 206 + Content-Range, 416 + `bytes */N`;
          gzip (chunked, no Content-Length, `ETag: W/"..."`) only if Accept-Encoding allows gzip and
          there is no Range (clients should send `Accept-Encoding: identity`).
        LFS file: 302, absolute Location on the CDN, body "Found. Redirecting to <url>".
        Headers on both: X-Repo-Commit, X-Linked-Size, X-Linked-Etag ("sha256" for LFS, "git blob
        sha1" otherwise, quoted), ETag (LFS: quoted git oid of the pointer file; small: quoted git
        sha1), Accept-Ranges: bytes, Content-Length.
  Renamed repo (add_redirect/--redirect/renamed_from): every URL of the old id answers 307 with a
  relative Location, the same path under the new id (query kept).
  {rev} is one path segment: a branch/tag name percent-encoded (refs%2Fpr%2F1) or a 40-hex
  commit. An unencoded "refs/pr/1" means revision "refs" -> RevisionNotFound (strict on purpose).
  Errors (JSON body {"error": msg}, X-Error-Code and X-Error-Message headers):
    Authorization present but not "Bearer <known token>"  401, no code,
                                   message "Invalid credentials in Authorization header"
    unknown repo, or private without access      401 RepoNotFound (no token) / 404 (valid token)
    gated, download without token                401 GatedRepo "Access to model X is restricted.
                                                  You must have access ... Please log in."
    gated, token without access                  403 GatedRepo "... not in the authorized list ..."
       (gated repos' /api/ listings are public like on the Hub; gated_metadata_public=False or
        --gated-metadata-private refuses them too)
    unknown revision                             404 RevisionNotFound "Invalid rev id: X"
    unknown file (resolve) or dir (tree)         404 EntryNotFound, with X-Repo-Commit
  Every response carries X-Request-Id.

CDN (``HubSim.cdn_endpoint``), built in:  GET|HEAD /<repo_id>/<sha256>?f=<path>&exp=<unix>&sig=<hex>
  sig = hmac-sha256(secret, "<unquoted path>\n<exp>")[:40]; missing/bad sig or exp in the past
  -> 403 (S3-like XML); unknown blob -> 404; Range/206/416 as above; ETag "sha256". Any
  Authorization header it receives is recorded (stats cdn_auth_headers) and otherwise ignored
  (cdn_reject_auth=True answers 400 instead, like S3). Bytes are sent with os.sendfile from the
  source file (never loaded into memory).
  External CDN: with cdn_base=URL (--cdn-base) no CDN server is started and Location is
  URL/<repo_id>/<sha256>?f=...&exp=...&sig=... ; layout_cdn_dir(DIR) (--layout-cdn DIR) makes
  DIR/<repo_id>/<sha256> symlinks/hardlinks/copies for a static server such as nginx
  (nginx_conf(DIR, port) / --nginx-conf writes a config for it).

CONTROL (hub only; not logged, not counted, never faulted)
  GET    /_sim/health                  {"ok": true}
  GET    /_sim/stats[?requests=0][&since=SEQ]   see HubSim.stats()
  POST   /_sim/reset  [{"faults": false}]       zero counters/log (and clear faults unless false)
  GET    /_sim/faults                  {"faults": [...]}
  POST   /_sim/faults  FAULT | [FAULT...] | {"faults": [...], "replace": true}  -> {"ids": [...]}
  DELETE /_sim/faults   or  POST /_sim/faults/clear
  GET    /_sim/repos                   {repo_id: {id, gated, private, revisions: {name: {commit,
                                        files: {path: {path, size, lfs, oid, sha256, etag,
                                        git_sha1?, pointer_size?}}}}}}
  GET|POST /_sim/config                {page_size, url_ttl, gzip, tokens: {tok: null|[repo...]},
                                        remove_tokens: [...], redirects: {old: new},
                                        gated_metadata_public, cdn_reject_auth}
  POST   /_sim/reload                  re-read the repos directory
  Errors: 400 {"error": ...} (bad JSON, unknown fault kind/parameter), 404 unknown endpoint.

FAULTS  (add_fault(kind, path="*", count=1, skip=0, server="any", method=None, repo=None, **params)
         or the same keys as a JSON object with "kind")
  Matching: `path` is an fnmatch glob ("*" also matches "/") tried against the decoded URL path,
  the repo-relative file path(s) of the request and "<repo_id>/<file path>" (so "*.safetensors",
  "config.json", "/api/*", "*/tree/*", "org/name/*" all work). server: "hub" | "cdn" | "any";
  method: "GET" | "HEAD" | None; repo: glob on the repo id. Faults are tried in the order they
  were armed; at most one fires per request. A fault only counts against requests it can apply to
  (see "applies to"); `skip` lets that many such requests pass first; `count` (None or -1: forever)
  is how many it then spoils.
  kind            params                        applies to / effect
  reset           after_bytes=0                 GET with a body (file bytes, API JSON): headers,
                                                after_bytes of body, then TCP RST
  truncate        after_bytes=len//2            same: full Content-Length announced, fewer bytes
                                                sent, then a clean close (FIN)
  corrupt         offset=None                   same: one byte XOR 0xFF at absolute file offset
                                                `offset` if inside the body, else the body's first
  slow            rate=None (bytes/s), delay=0  any: sleep `delay` s before the status line;
                                                throttle the body to `rate`
  status          status=500, retry_after, message, body, content_type, error_code
                                                any: that status instead of the answer
  rate_limit      retry_after=1                 any: 429 + Retry-After + RateLimit(-Policy)
  html            status=200, body              any: an HTML page with 200 (API or file alike)
  json_garbage    status=200, body              any: invalid JSON (application/json) with 200
  drop            -                             any: close the connection without answering
  stall           after_bytes=None, seconds=3600
                                                any: read the request, then send nothing for
                                                `seconds` (or until the client or the simulator
                                                closes the connection), the socket kept open; with
                                                after_bytes: headers and that many body bytes
                                                first (count=None: a CDN that trickles and stalls)
  size_mismatch   delta=+1 | size=N             hub API listings that include a matching file
                                                (tree, revision?blobs=true: size and lfs.size)
                                                and hub resolve answers (X-Linked-Size); the bytes
                                                served stay the real ones. Use count=None to keep
                                                listing and HEAD consistent with each other.
  ignore_range    -                             GET of file bytes with a Range: 200 + whole body
  shift           by=4096                       GET of file bytes with a Range: 206 with the requested
                                                Content-Range and length, but the bytes from `by`
                                                earlier in the file (from byte 0 at most)
  Aliases: "500", "503", "429", "delay", "throttle", "wrong_bytes", "close".
  Expired CDN URLs: configure(url_ttl=-1) makes every new Location already expired (CDN 403).

COUNTERS  body bytes written to sockets, counted per file as "<repo_id>/<path>" (hub_bytes,
  cdn_bytes, hub_requests, cdn_requests; CDN bytes go to the path named by the URL's f= parameter,
  else the first path with that sha256 in that repo), per blob (sha256), per server; connections
  (accepted connections that carried at least one non-control request); request log. A request
  is logged when its answer starts, and bytes are counted just before they are handed to the
  kernel, so a client that got an answer always finds it counted.

REPOS DIRECTORY (--repos-dir / HubSim(repos_dir) / load_dir)
    DIR/.sim.json                         optional: {"tokens": {"tok": null | ["org/name", ...]},
                                          "redirects": {"old/name": "new/name"}, "page_size": 50,
                                          "lfs_threshold": 1048576, "lfs_patterns": [...]}
    DIR/<org>/<name>/.sim.json            optional: {"gated": false|true|"auto"|"manual",
                                          "private": false, "aliases": {"v1.0": "main"},
                                          "renamed_from": ["old/name"], "lfs_threshold": N,
                                          "lfs_patterns": [...]}
    DIR/<org>/<name>/<revision>/<files>   one directory per revision (symlinks followed); a
                                          revision containing "/" is stored percent-encoded
                                          (refs%2Fpr%2F1)
  A file is LFS when size >= lfs_threshold (default 1 MiB) or its name matches lfs_patterns
  (default *.safetensors, *.bin, *.pt, *.pth, *.ckpt, *.h5, *.onnx, *.gguf, *.msgpack, ...).
  Commits are deterministic: sha1 of repo id, revision name and file list; an alias shares the
  commit of its target. The git oid of an LFS file is that of its pointer file (as on the Hub);
  its content hash is lfs.oid / X-Linked-Etag (sha256).

CLI
  python3 hf_hub_sim.py --repos-dir DIR --port 0 --port-file F [--cdn-port 0] [--token T]...
      [--redirect OLD=NEW]... [--page-size N] [--lfs-threshold N] [--url-ttl S] [--no-gzip]
      [--cdn-host 127.0.0.2] [--cdn-base URL] [--layout-cdn DIR [--link-mode symlink|hardlink|copy]
      [--nginx-conf FILE --nginx-port P] [--layout-only]] [--faults JSON] [--hash-cache FILE]
  writes {"hub_port", "cdn_port", "endpoint", "cdn_endpoint", "pid"} to F atomically once both
  servers listen; serves until SIGTERM/SIGINT, then exits 0. Prints nothing (HF_SIM_DEBUG=1 logs
  requests to stderr).
"""

import argparse
import base64
import errno
import fnmatch
import gzip as _gzip
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import shutil
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

MiB = 1 << 20
DEFAULT_LFS_THRESHOLD = 1 * MiB
DEFAULT_LFS_PATTERNS = (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.msgpack", "*.gguf",
    "*.ot", "*.tflite", "*.npz", "*.npy", "*.pkl", "*.pickle", "*.zip", "*.tar", "*.tar.*",
    "*.gz", "*.xz", "*.zst", "*.parquet", "*.arrow", "*.model", "*.joblib", "*.mlmodel",
)
DEFAULT_PAGE_SIZE = 50
SEND_CHUNK = 8 * MiB
LOG_LIMIT = 200000
LAST_MODIFIED = "2024-01-01T00:00:00.000Z"
HTTP_DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
LFS_POINTER_FMT = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"

# --- fault kinds ------------------------------------------------------------------------------
# body faults need a GET answered 200/206 with a non-empty body (file content or API JSON)
BODY_FAULTS = ("reset", "truncate", "corrupt")
ANY_FAULTS = ("status", "rate_limit", "slow", "html", "json_garbage", "drop", "stall")
RANGE_FAULTS = ("ignore_range", "shift")
FAULT_KINDS = BODY_FAULTS + ANY_FAULTS + ("size_mismatch",) + RANGE_FAULTS
FAULT_ALIASES = {"500": ("status", {"status": 500}), "http_500": ("status", {"status": 500}),
                 "503": ("status", {"status": 503}), "429": ("rate_limit", {}),
                 "delay": ("slow", {}), "throttle": ("slow", {}), "wrong_bytes": ("corrupt", {}),
                 "flip": ("corrupt", {}), "html_garbage": ("html", {}), "garbage_json": ("json_garbage", {}),
                 "close": ("drop", {})}

_HASH_CACHE = {}
_HASH_CACHE_LOCK = threading.Lock()
_HASH_CACHE_DIRTY = False


def git_blob_sha1(data):
    """git's blob id: sha1(b"blob <len>\\0" + data)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _hash_file(path, want_sha1, want_sha256):
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _HASH_CACHE_LOCK:
        cached = _HASH_CACHE.get(key, {})
    need1 = want_sha1 and "sha1" not in cached
    need256 = want_sha256 and "sha256" not in cached
    if need1 or need256:
        h1 = hashlib.sha1(b"blob %d\0" % st.st_size) if need1 else None
        h256 = hashlib.sha256() if need256 else None
        with open(path, "rb", buffering=0) as f:
            buf = bytearray(256 * 1024)  # cache-sized pieces hash faster than big ones
            mv = memoryview(buf)
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                if h1 is not None:
                    h1.update(mv[:n])
                if h256 is not None:
                    h256.update(mv[:n])
        cached = dict(cached)
        if h1 is not None:
            cached["sha1"] = h1.hexdigest()
        if h256 is not None:
            cached["sha256"] = h256.hexdigest()
        with _HASH_CACHE_LOCK:
            _HASH_CACHE[key] = cached
            global _HASH_CACHE_DIRTY
            _HASH_CACHE_DIRTY = True
    return st.st_size, cached.get("sha1"), cached.get("sha256")


def load_hash_cache(path):
    """Load digests saved by save_hash_cache (entries whose file changed are simply unused)."""
    try:
        with open(path) as f:
            rows = json.load(f)
    except (OSError, ValueError):
        return
    with _HASH_CACHE_LOCK:
        for r in rows:
            _HASH_CACHE.setdefault((r["path"], r["size"], r["mtime_ns"], r["ino"]), r["digests"])


def save_hash_cache(path):
    """Persist the digests of files on disk, so that a restarted sim need not hash them again."""
    global _HASH_CACHE_DIRTY
    with _HASH_CACHE_LOCK:
        if not _HASH_CACHE_DIRTY and os.path.exists(path):
            return
        rows = [{"path": k[0], "size": k[1], "mtime_ns": k[2], "ino": k[3], "digests": v}
                for k, v in _HASH_CACHE.items()]
        _HASH_CACHE_DIRTY = False
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(rows, f)
    os.replace(tmp, path)


class SimFile:
    """One file of one revision. ``data`` (bytes) or ``src`` (a path on disk, never loaded)."""

    def __init__(self, path, source, lfs_threshold, lfs_patterns):
        self.path = path
        self.data = None
        self.src = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.data = bytes(source)
            self.size = len(self.data)
        elif isinstance(source, (str, os.PathLike)):
            self.src = os.path.abspath(os.fspath(source))
            self.size = os.stat(self.src).st_size
        else:
            raise TypeError("file %r: expected bytes or a file path, got %r" % (path, type(source)))
        base = path.rsplit("/", 1)[-1]
        self.lfs = self.size >= lfs_threshold or any(
            fnmatch.fnmatchcase(base, p) or fnmatch.fnmatchcase(path, p) for p in lfs_patterns)
        if self.data is not None:
            self.sha256 = hashlib.sha256(self.data).hexdigest()
            self.content_sha1 = git_blob_sha1(self.data)
        else:
            _, self.content_sha1, self.sha256 = _hash_file(self.src, not self.lfs, True)
        if self.lfs:
            self.pointer = (LFS_POINTER_FMT % (self.sha256, self.size)).encode()
            self.oid = git_blob_sha1(self.pointer)  # git oid of an LFS file = oid of its pointer
        else:
            self.pointer = None
            self.oid = self.content_sha1

    @property
    def etag(self):
        """What X-Linked-Etag carries (unquoted): sha256 for LFS files, git blob sha1 otherwise."""
        return self.sha256 if self.lfs else self.oid

    def info(self):
        d = {"path": self.path, "size": self.size, "lfs": self.lfs, "oid": self.oid,
             "sha256": self.sha256, "etag": self.etag}
        if self.content_sha1:
            d["git_sha1"] = self.content_sha1
        if self.lfs:
            d["pointer_size"] = len(self.pointer)
        return d


class SimRevision:
    def __init__(self, repo_id, name, files):
        self.name = name
        self.files = dict(sorted(files.items()))
        manifest = "\n".join("%s %s %d" % (p, f.etag, f.size) for p, f in self.files.items())
        self.commit = hashlib.sha1(("commit\0%s\0%s\0%s" % (repo_id, name, manifest)).encode()).hexdigest()
        dirs = set()
        for p in self.files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        self.dirs = dirs
        self._dir_oids = {}
        for d in sorted(dirs, key=lambda s: -s.count("/")):
            pre = d + "/"
            h = hashlib.sha1(b"tree\0")
            for p, f in self.files.items():
                if p.startswith(pre):
                    h.update(("%s %s\n" % (p[len(pre):], f.oid)).encode())
            self._dir_oids[d] = h.hexdigest()

    def dir_oid(self, d):
        return self._dir_oids[d]


class SimRepo:
    def __init__(self, repo_id, gated=False, private=False):
        self.id = repo_id
        if gated is True:
            gated = "auto"
        self.gated = gated or False
        self.private = bool(private)
        self.revisions = {}   # name -> SimRevision
        self.by_commit = {}   # commit -> SimRevision
        self.blobs = {}       # sha256 -> SimFile (LFS files, first path in sorted order wins)

    def add_revision(self, rev):
        self.revisions[rev.name] = rev
        self.by_commit.setdefault(rev.commit, rev)
        for p, f in rev.files.items():
            if f.lfs and f.sha256 not in self.blobs:
                self.blobs[f.sha256] = f

    def lookup(self, rev):
        if rev in self.revisions:
            return self.revisions[rev]
        if re.fullmatch(r"[0-9a-f]{40}", rev or ""):
            return self.by_commit.get(rev)
        return None

    def info(self):
        revs = {}
        for name, r in self.revisions.items():
            revs[name] = {"commit": r.commit, "files": {p: f.info() for p, f in r.files.items()}}
        return {"id": self.id, "gated": self.gated, "private": self.private, "revisions": revs}


class Fault:
    _next_id = 1
    _id_lock = threading.Lock()

    def __init__(self, kind, path="*", count=1, skip=0, server="any", method=None, repo=None, **params):
        if kind in FAULT_ALIASES:
            kind, extra = FAULT_ALIASES[kind]
            params = dict(extra, **params)
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (known: %s)" % (kind, ", ".join(FAULT_KINDS)))
        if server not in ("any", "hub", "cdn"):
            raise ValueError("fault server must be any|hub|cdn, not %r" % (server,))
        known = {"after_bytes", "status", "retry_after", "body", "offset", "rate", "delay",
                 "delta", "size", "content_type", "message", "error_code", "by", "seconds"}
        bad = set(params) - known
        if bad:
            raise ValueError("unknown fault parameter(s): %s" % ", ".join(sorted(bad)))
        with Fault._id_lock:
            self.id = Fault._next_id
            Fault._next_id += 1
        self.kind = kind
        self.path = path or "*"
        self.count = None if count is None or count < 0 else int(count)
        self.skip = int(skip or 0)
        self.server = server
        self.method = method.upper() if method else None
        self.repo = repo
        self.params = params
        self.hits = 0

    def get(self, key, default=None):
        v = self.params.get(key)
        return default if v is None else v

    def to_json(self):
        d = {"id": self.id, "kind": self.kind, "path": self.path, "count": self.count,
             "skip": self.skip, "server": self.server, "method": self.method, "repo": self.repo,
             "hits": self.hits}
        d.update(self.params)
        return d

    @classmethod
    def from_json(cls, d):
        d = dict(d)
        d.pop("id", None)
        d.pop("hits", None)
        kind = d.pop("kind")
        return cls(kind, **d)


class _Plan:
    """What a request will be answered with, before faults are applied."""

    def __init__(self, cls, build, repo=None, file=None, file_key=None, paths=(), has_range=False,
                 blob=None):
        self.cls = cls            # "api" | "content" | "redirect" | "error" | "other"
        self.build = build        # build(adj=None, ignore_range=False, allow_gzip=True) -> _Response
        self.repo = repo          # repo id or None
        self.file = file          # SimFile or None
        self.file_key = file_key  # "org/name/path" for counters
        self.paths = list(paths)  # logical paths involved (listing entries or the file)
        self.has_range = has_range
        self.blob = blob          # sha256 (CDN requests)
        self.role = None


class _Response:
    def __init__(self, status, headers=None, body=b"", file=None, start=0, length=None, chunked=False):
        self.status = status
        self.headers = list(headers or [])
        self.body = body          # bytes, used when file is None
        self.file = file          # SimFile whose bytes [start, start+length) are the body
        self.start = start
        self.length = len(body) if file is None else int(length)
        self.chunked = chunked    # body (already encoded) sent with Transfer-Encoding: chunked
        self.is_content = False   # the body is file content (counted per file)


def _json_bytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _error_response(status, code, message, extra_headers=()):
    headers = [("Content-Type", "application/json; charset=utf-8")]
    if code:
        headers.append(("X-Error-Code", code))
    if message:
        headers.append(("X-Error-Message", message))
    headers.extend(extra_headers)
    return _Response(status, headers, _json_bytes({"error": message or "error"}))


def _parse_range(value, size):
    """None: serve everything (no/ignored Range); "unsat": 416; else (start, end) inclusive."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not m:
        return None  # multi-range or garbage: ignored, answer 200 with the whole body
    a, b = m.groups()
    if a == "" and b == "":
        return None
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsat"
        return (max(0, size - n), size - 1)
    start = int(a)
    if b != "" and int(b) < start:
        return None
    if start >= size:
        return "unsat"
    end = size - 1 if b == "" else min(int(b), size - 1)
    return (start, end)


def _content_type(path):
    p = path.lower()
    if p.endswith(".json"):
        return "application/json; charset=utf-8"
    if p.endswith((".txt", ".md", ".py", ".yaml", ".yml", ".csv", ".model.txt", ".gitattributes")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _wants_gzip(accept_encoding):
    if not accept_encoding:
        return False
    for part in accept_encoding.split(","):
        bits = [b.strip() for b in part.split(";")]
        if bits[0].lower() in ("gzip", "*"):
            q = 1.0
            for b in bits[1:]:
                if b.startswith("q="):
                    try:
                        q = float(b[2:])
                    except ValueError:
                        q = 0.0
            if q > 0:
                return True
    return False


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, sim, role):
        self.sim = sim
        self.role = role
        super().__init__(addr, _Handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, BrokenPipeError, socket.timeout, OSError)):
            return
        self.sim._record_error("%s: %r" % (self.role, exc))
        if os.environ.get("HF_SIM_DEBUG"):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "hf-hub-sim/1"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if os.environ.get("HF_SIM_DEBUG"):
            sys.stderr.write("hf_hub_sim %s: %s\n" % (self.server.role, fmt % args))

    def setup(self):
        super().setup()
        self.sim = self.server.sim
        self.role = self.server.role
        self.conn_id = self.sim._conn_open(self.role, self.connection)
        self.conn_counted = False

    def finish(self):
        try:
            super().finish()
        finally:
            self.sim._conn_close(self.role, self.conn_id)

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # --- plumbing -----------------------------------------------------------------------------
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out += self.rfile.read(n)
                self.rfile.readline(65537)
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        raw_path, _, query = self.path.partition("?")
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("/", 3)[-1] if raw_path.count("/") >= 3 else "/"
        self.raw_path = raw_path
        self.query = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.query_string = query
        try:
            req_body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if self.role == "hub" and raw_path.startswith("/_sim/"):
            self._control(raw_path, req_body)
            return
        if not self.conn_counted:
            self.conn_counted = True
            self.sim._conn_count(self.role)
        entry = {"server": self.role, "conn": self.conn_id, "method": self.command, "path": self.path,
                 "headers": {k: v for k, v in self.headers.items()}, "range": self.headers.get("Range"),
                 "status": None, "bytes": 0, "file": None, "fault": None, "time": time.time()}
        auth = self.headers.get("Authorization")
        if self.role == "cdn" and auth is not None:
            self.sim._record_cdn_auth(self.path, auth)
        self.sent = 0
        self._entry = entry
        logged = False
        plan = None
        try:
            if self.command not in ("GET", "HEAD"):
                plan = _Plan("other", lambda *a, **k: _error_response(405, None, "Method not allowed"))
            elif self.role == "hub":
                plan = self.sim._route_hub(self)
            else:
                plan = self.sim._route_cdn(self)
            entry["file"] = plan.file_key
            entry["_blob"] = plan.blob
            fault = self.sim._take_fault(self.role, self.command, raw_path, plan)
            if fault is not None:
                entry["fault"] = fault.kind
            # logged (and counted) before answering, so that a client that has its answer always
            # finds its request in the log; status and bytes are filled in as they happen
            self.sim._log_request(entry)
            logged = True
            self._answer(plan, fault)
        except (ConnectionError, BrokenPipeError, socket.timeout, OSError) as e:
            entry["error"] = type(e).__name__
            self.close_connection = True
        finally:
            if not logged:
                self.sim._log_request(entry)

    def _answer(self, plan, fault):
        kind = fault.kind if fault else None
        if kind == "slow" and fault.get("delay", 0) > 0:
            time.sleep(float(fault.get("delay")))
        if kind == "drop" or (kind == "stall" and fault.get("after_bytes") is None):
            if kind == "stall":
                self._hold(fault)
            self.close_connection = True
            self._entry["status"] = 0
            return
        if kind == "status":
            st = int(fault.get("status", 500))
            hdrs = []
            if fault.get("error_code"):
                hdrs.append(("X-Error-Code", str(fault.get("error_code"))))
            if fault.get("retry_after") is not None:
                hdrs.append(("Retry-After", str(fault.get("retry_after"))))
            body = fault.get("body")
            if body is None:
                resp = _error_response(st, None, fault.get("message", "Internal Error - We're working hard to fix this as soon as possible!"), hdrs)
            else:
                resp = _Response(st, [("Content-Type", fault.get("content_type", "text/plain"))] + hdrs,
                                 body.encode() if isinstance(body, str) else bytes(body))
            fault = None
        elif kind == "rate_limit":
            ra = int(fault.get("retry_after", 1))
            resp = _error_response(429, None, "You have exceeded our hourly quotas for action: resolvers. We invite you to retry later.", [
                ("Retry-After", str(ra)),
                ("RateLimit", '"resolvers";r=0;t=%d' % ra),
                ("RateLimit-Policy", '"fixed window";"resolvers";q=3000;w=300')])
            fault = None
        elif kind == "html":
            body = fault.get("body") or (
                "<!doctype html>\n<html class=\"\">\n<head><meta charset=\"utf-8\"><title>Hugging Face - "
                "The AI community building the future.</title></head>\n<body><h1>We'll be right back</h1>"
                "<p>Something went wrong, please try again later.</p></body>\n</html>\n")
            resp = _Response(int(fault.get("status", 200)), [("Content-Type", "text/html; charset=utf-8")],
                             body.encode() if isinstance(body, str) else bytes(body))
            fault = None
        elif kind == "json_garbage":
            body = fault.get("body")
            if body is None:
                body = '{"_id":"65f0c0ffee","id":"garbage","sha":null,"siblings":[{"rfilename":'
            elif not isinstance(body, (str, bytes)):
                body = json.dumps(body)
            resp = _Response(int(fault.get("status", 200)), [("Content-Type", "application/json; charset=utf-8")],
                             body.encode() if isinstance(body, str) else bytes(body))
            fault = None
        else:
            adj = None
            if kind == "size_mismatch":
                adj = fault
                fault = None
            resp = plan.build(adj, kind == "ignore_range",
                              kind not in BODY_FAULTS + ("slow", "shift", "stall"))
            if kind == "ignore_range":
                fault = None
        self._send(resp, fault, plan)

    def _send(self, resp, fault, plan):
        self._entry["status"] = resp.status
        self._content = resp.is_content
        self.send_response(resp.status)
        names = set()
        for k, v in resp.headers:
            self.send_header(k, v)
            names.add(k.lower())
        self.send_header("X-Request-Id", "Root=1-sim-%08d" % next(self.sim._req_ids))
        if resp.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in names:
            self.send_header("Content-Length", str(resp.length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if resp.chunked:
            data = resp.body
            out = b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n" if data else b"0\r\n\r\n"
            self._account(len(data), plan)
            self.wfile.write(out)
            return
        length = resp.length
        if length <= 0:
            return
        kind = fault.kind if fault else None
        limit = length
        flip = None
        rate = None
        shift = 0
        if kind in ("reset", "stall"):
            limit = max(0, min(int(fault.get("after_bytes", 0)), length))
        elif kind == "truncate":
            n = fault.get("after_bytes")
            limit = length // 2 if n is None else int(n)
            limit = max(0, min(limit, length - 1))
        elif kind == "corrupt":
            off = fault.get("offset")
            flip = 0
            if off is not None and resp.start <= int(off) < resp.start + length:
                flip = int(off) - resp.start
        elif kind == "slow":
            rate = fault.get("rate")
            rate = float(rate) if rate else None
        elif kind == "shift" and resp.file is not None:
            shift = min(resp.start, int(fault.get("by", 4096)))
        self._stream(resp, limit, flip, rate, plan, shift)
        if kind == "truncate":
            self.close_connection = True
        elif kind == "stall":
            self._hold(fault)
            self.close_connection = True
        elif kind == "reset":
            self.close_connection = True
            self._reset_connection()

    def _account(self, n, plan):
        """Counted just before the bytes are handed to the kernel (then corrected with a negative
        n if fewer went out), so that a client never sees more bytes than the counters say."""
        self.sent += n
        if self._content:
            self.sim._account(self.role, plan.file_key, plan.blob, n, self._entry)
        else:
            self.sim._account(self.role, None, None, n, self._entry)

    def _stream(self, resp, limit, flip, rate, plan, shift=0):
        sock = self.connection
        pos = 0
        t0 = time.monotonic()
        fd = None
        try:
            if resp.file is not None and resp.file.src is not None:
                fd = os.open(resp.file.src, os.O_RDONLY)
            data = None
            if fd is None:
                data = memoryview(resp.body if resp.file is None else resp.file.data)
            base = resp.start - shift if resp.file is not None else 0
            while pos < limit:
                n = min(SEND_CHUNK, limit - pos)
                if rate:
                    n = min(n, max(1, int(rate / 50)))
                if flip is not None and pos <= flip < pos + n:
                    if flip > pos:
                        n = flip - pos
                    else:
                        b = os.pread(fd, 1, base + pos) if fd is not None else bytes(data[base + pos:base + pos + 1])
                        self._account(1, plan)
                        sock.sendall(bytes([b[0] ^ 0xFF]))
                        pos += 1
                        continue
                self._account(n, plan)
                try:
                    if fd is not None:
                        k = self._sendfile(sock, fd, base + pos, n)
                    else:
                        sock.sendall(data[base + pos:base + pos + n])
                        k = n
                except OSError:
                    self._account(-n, plan)
                    raise
                if k < n:
                    self._account(k - n, plan)
                pos += k
                if rate:
                    ahead = pos / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        finally:
            if fd is not None:
                os.close(fd)
        return pos

    @staticmethod
    def _sendfile(sock, fd, offset, count):
        try:
            k = os.sendfile(sock.fileno(), fd, offset, count)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            data = os.pread(fd, count, offset)
            sock.sendall(data)
            return len(data)
        if k == 0:
            raise BrokenPipeError("sendfile sent nothing")
        return k

    def _hold(self, fault):
        """Sends nothing for fault's `seconds`, keeping the connection open, or until the client
        or the simulator (stop) closes it; what the client sends meanwhile is read and ignored."""
        until = time.monotonic() + float(fault.get("seconds", 3600))
        sock = self.connection
        while time.monotonic() < until:
            try:
                ready, _, _ = select.select([sock], [], [], 0.1)
                if ready and not sock.recv(65536):
                    return  # closed
            except (OSError, ValueError):
                return

    def _reset_connection(self):
        sock = self.connection
        try:
            import fcntl
            import termios
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:  # let the client receive what was sent first
                pending = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
                if pending <= 0:
                    break
                time.sleep(0.002)
        except Exception:
            pass
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            sock.close()  # abortive close: RST
        except OSError:
            pass

    # --- control endpoints (hub only) ---------------------------------------------------------
    def _control(self, raw_path, req_body):
        sim = self.sim
        cmd = raw_path[len("/_sim/"):].strip("/")
        q = self.query
        try:
            payload = json.loads(req_body.decode() or "null") if req_body.strip() else None
        except ValueError as e:
            return self._control_reply(400, {"error": "bad JSON: %s" % e})
        try:
            m = self.command
            if cmd == "health":
                return self._control_reply(200, {"ok": True})
            if cmd == "stats" and m == "GET":
                include = q.get("requests", ["1"])[0] not in ("0", "false", "no")
                since = int(q.get("since", ["0"])[0] or 0)
                return self._control_reply(200, sim.stats(include_requests=include, since=since))
            if cmd == "reset" and m == "POST":
                keep = isinstance(payload, dict) and payload.get("faults") is False
                sim.reset(faults=not keep)
                return self._control_reply(200, {"ok": True})
            if cmd == "faults":
                if m == "GET":
                    return self._control_reply(200, {"faults": sim.faults()})
                if m == "DELETE":
                    sim.clear_faults()
                    return self._control_reply(200, {"ok": True})
                if m == "POST":
                    items = payload
                    if isinstance(payload, dict) and "faults" in payload:
                        if payload.get("replace"):
                            sim.clear_faults()
                        items = payload["faults"]
                    if isinstance(items, dict):
                        items = [items]
                    if not isinstance(items, list):
                        return self._control_reply(400, {"error": "expected a fault object or a list"})
                    faults = [Fault.from_json(d) for d in items]
                    ids = [sim._install_fault(f) for f in faults]
                    return self._control_reply(200, {"ids": ids})
            if cmd == "faults/clear" and m == "POST":
                sim.clear_faults()
                return self._control_reply(200, {"ok": True})
            if cmd == "repos" and m == "GET":
                return self._control_reply(200, sim.repos_info())
            if cmd == "config" and m == "POST":
                sim.configure(**(payload or {}))
                return self._control_reply(200, {"ok": True})
            if cmd == "config" and m == "GET":
                return self._control_reply(200, sim.config())
            if cmd == "reload" and m == "POST":
                sim.reload()
                return self._control_reply(200, {"ok": True, "repos": sorted(sim.repos_info())})
            return self._control_reply(404, {"error": "unknown control endpoint %s %s" % (m, raw_path)})
        except (TypeError, ValueError, KeyError) as e:
            return self._control_reply(400, {"error": "%s: %s" % (type(e).__name__, e)})

    def _control_reply(self, status, obj):
        body = json.dumps(obj, indent=1, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class HubSim:
    """A Hugging Face Hub + CDN simulator. See the module docstring.

    Construction does not start anything; :meth:`start` (or ``with HubSim(...) as sim``) binds the
    servers. Repos, tokens and faults may be changed at any time, also while serving.
    """

    def __init__(self, repos_dir=None, *, host="127.0.0.1", port=0, cdn_port=0, cdn_host=None,
                 cdn_base=None, tokens=None, page_size=DEFAULT_PAGE_SIZE,
                 lfs_threshold=DEFAULT_LFS_THRESHOLD, lfs_patterns=DEFAULT_LFS_PATTERNS,
                 secret="hf-hub-sim-secret", url_ttl=3600, gzip=True, gated_metadata_public=True,
                 cdn_reject_auth=False, hash_cache=None):
        self.host = host
        self._port = port
        self.cdn_host = cdn_host or host
        self._cdn_port = cdn_port
        self.cdn_base = cdn_base.rstrip("/") if cdn_base else None
        self.page_size = int(page_size)
        self.lfs_threshold = int(lfs_threshold)
        self.lfs_patterns = tuple(lfs_patterns)
        self.secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.url_ttl = int(url_ttl)
        self.gzip = bool(gzip)
        self.gated_metadata_public = bool(gated_metadata_public)
        self.cdn_reject_auth = bool(cdn_reject_auth)
        self.repos_dir = repos_dir
        self.hash_cache = hash_cache
        if hash_cache:
            load_hash_cache(hash_cache)
        self._lock = threading.RLock()
        self._repos = {}
        self._redirects = {}
        self._tokens = {}
        self._faults = []
        self._servers = {}
        self._threads = []
        self._open = {"hub": {}, "cdn": {}}
        self._conn_seq = 0
        self._seq = 0
        self._req_ids = itertools.count(1)
        if tokens:
            if isinstance(tokens, dict):
                for t, acc in tokens.items():
                    self.add_token(t, acc)
            else:
                for t in tokens:
                    self.add_token(t)
        self._reset_counters()
        if repos_dir:
            self.load_dir(repos_dir)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self):
        if self._servers:
            return self
        self._servers["hub"] = _Server((self.host, self._port), self, "hub")
        if not self.cdn_base:
            self._servers["cdn"] = _Server((self.cdn_host, self._cdn_port), self, "cdn")
        for role, srv in self._servers.items():
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="hf-hub-sim-%s" % role, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        servers, self._servers = self._servers, {}
        for srv in servers.values():
            srv.shutdown()
        with self._lock:
            socks = [s for d in self._open.values() for s in d.values()]
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for srv in servers.values():
            srv.server_close()
        for t in self._threads:
            t.join(5)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def hub_port(self):
        return self._servers["hub"].server_address[1]

    @property
    def cdn_port(self):
        return self._servers["cdn"].server_address[1] if "cdn" in self._servers else None

    @property
    def endpoint(self):
        """The value for HF_ENDPOINT, e.g. http://127.0.0.1:40123 (no trailing slash)."""
        return "http://%s:%d" % (self.host, self.hub_port)

    @property
    def cdn_endpoint(self):
        if self.cdn_base:
            return self.cdn_base
        return "http://%s:%d" % (self.cdn_host, self.cdn_port)

    # --- repos --------------------------------------------------------------------------------
    def add_repo(self, repo_id, files=None, *, revisions=None, gated=False, private=False,
                 lfs_threshold=None, lfs_patterns=None):
        """Define (or replace) a model repo.

        files: {path: bytes | filesystem path} for revision "main" (shortcut).
        revisions: {name: {path: bytes|filepath} | "other-revision-name"}; a string value makes
        an alias sharing the other revision's commit (a tag on the same commit).
        gated: False | True ("auto") | "auto" | "manual". Returns the SimRepo.
        """
        thr = self.lfs_threshold if lfs_threshold is None else int(lfs_threshold)
        pats = self.lfs_patterns if lfs_patterns is None else tuple(lfs_patterns)
        revs = dict(revisions or {})
        if files is not None:
            revs.setdefault("main", files)
        if not revs:
            revs["main"] = {}
        repo = SimRepo(repo_id, gated=gated, private=private)
        aliases = {}
        for name, spec in revs.items():
            if isinstance(spec, str):
                aliases[name] = spec
                continue
            sfiles = {}
            for p, src in spec.items():
                p = p.strip("/")
                sfiles[p] = src if isinstance(src, SimFile) else SimFile(p, src, thr, pats)
            repo.add_revision(SimRevision(repo_id, name, sfiles))
        for name, target in aliases.items():
            r = repo.lookup(target)
            if r is None:
                raise ValueError("revision alias %r -> unknown revision %r" % (name, target))
            repo.revisions[name] = r
        with self._lock:
            self._repos[repo_id] = repo
        if self.hash_cache:
            save_hash_cache(self.hash_cache)
        return repo

    def remove_repo(self, repo_id):
        with self._lock:
            self._repos.pop(repo_id, None)

    def add_redirect(self, old_repo_id, new_repo_id):
        """Renamed repo: requests for old_repo_id answer 307 with a relative Location."""
        with self._lock:
            self._redirects[old_repo_id] = new_repo_id

    def add_token(self, token, access=None):
        """A valid token. access None: every private/gated repo; else an iterable of repo ids."""
        with self._lock:
            self._tokens[token] = None if access is None else set(access)

    def remove_token(self, token):
        with self._lock:
            self._tokens.pop(token, None)

    def load_dir(self, repos_dir):
        """Read DIR/<org>/<name>/<revision>/... (see module docstring). Returns the repo ids."""
        self.repos_dir = repos_dir
        loaded = []
        gconf = self._read_conf(os.path.join(repos_dir, ".sim.json"))
        if "tokens" in gconf:
            toks = gconf["tokens"]
            for t, acc in (toks.items() if isinstance(toks, dict) else ((t, None) for t in toks)):
                self.add_token(t, acc)
        for old, new in (gconf.get("redirects") or {}).items():
            self.add_redirect(old, new)
        if "page_size" in gconf:
            self.page_size = int(gconf["page_size"])
        thr_default = int(gconf.get("lfs_threshold", self.lfs_threshold))
        pats_default = tuple(gconf.get("lfs_patterns", self.lfs_patterns))
        for org in sorted(os.listdir(repos_dir)):
            odir = os.path.join(repos_dir, org)
            if org.startswith(".") or not os.path.isdir(odir):
                continue
            for name in sorted(os.listdir(odir)):
                rdir = os.path.join(odir, name)
                if name.startswith(".") or not os.path.isdir(rdir):
                    continue
                repo_id = "%s/%s" % (org, name)
                conf = self._read_conf(os.path.join(rdir, ".sim.json"))
                revisions = {}
                for rev in sorted(os.listdir(rdir)):
                    vdir = os.path.join(rdir, rev)
                    if rev.startswith(".") or not os.path.isdir(vdir):
                        continue
                    files = {}
                    for root, dirs, fnames in os.walk(vdir, followlinks=True):
                        dirs.sort()
                        for fn in sorted(fnames):
                            full = os.path.join(root, fn)
                            if not os.path.isfile(full):
                                continue
                            rel = os.path.relpath(full, vdir).replace(os.sep, "/")
                            files[rel] = full
                    revisions[urllib.parse.unquote(rev)] = files
                for alias, target in (conf.get("aliases") or {}).items():
                    revisions[alias] = target
                self.add_repo(repo_id, revisions=revisions, gated=conf.get("gated", False),
                              private=conf.get("private", False),
                              lfs_threshold=conf.get("lfs_threshold", thr_default),
                              lfs_patterns=conf.get("lfs_patterns", pats_default))
                for old in conf.get("renamed_from") or ():
                    self.add_redirect(old, repo_id)
                loaded.append(repo_id)
        return loaded

    def reload(self):
        if self.repos_dir:
            with self._lock:
                self._repos = {}
            self.load_dir(self.repos_dir)

    @staticmethod
    def _read_conf(path):
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f) or {}

    def repo(self, repo_id):
        return self._repos[repo_id]

    def commit(self, repo_id, revision="main"):
        """The 40-hex commit a revision (name or commit) resolves to."""
        return self._repos[repo_id].lookup(revision).commit

    def file_info(self, repo_id, path, revision="main"):
        """{path, size, lfs, oid, sha256, etag, git_sha1?, pointer_size?, commit, cdn_path?}."""
        rev = self._repos[repo_id].lookup(revision)
        f = rev.files[path]
        d = f.info()
        d["commit"] = rev.commit
        if f.lfs:
            d["cdn_path"] = self.cdn_path(repo_id, f.sha256)
        return d

    def repos_info(self):
        with self._lock:
            repos = list(self._repos.values())
        return {r.id: r.info() for r in repos}

    def resolve_url(self, repo_id, path, revision="main"):
        return "%s/%s/resolve/%s/%s" % (self.endpoint, repo_id, urllib.parse.quote(revision, safe=""),
                                        urllib.parse.quote(path))

    # --- CDN URLs -----------------------------------------------------------------------------
    @staticmethod
    def cdn_path(repo_id, sha256):
        """Path of an LFS blob below the CDN root: /<repo_id>/<sha256>."""
        return "/%s/%s" % (repo_id, sha256)

    def _sign(self, path, exp):
        return hmac.new(self.secret, ("%s\n%d" % (path, exp)).encode(), hashlib.sha256).hexdigest()[:40]

    def cdn_url(self, repo_id, path, revision="main", ttl=None):
        """The signed URL the hub redirects to for an LFS file."""
        f = self._repos[repo_id].lookup(revision).files[path]
        return self._signed_url(repo_id, f, ttl)

    def _signed_url(self, repo_id, f, ttl=None):
        cpath = self.cdn_path(repo_id, f.sha256)
        exp = int(time.time()) + (self.url_ttl if ttl is None else int(ttl))
        qs = "f=%s&exp=%d&sig=%s" % (urllib.parse.quote(f.path, safe=""), exp, self._sign(cpath, exp))
        return "%s%s?%s" % (self.cdn_endpoint, urllib.parse.quote(cpath), qs)

    def layout_cdn_dir(self, dest, mode="symlink"):
        """Lay out every LFS blob as DEST/<repo_id>/<sha256> for an external static server
        (``cdn_base`` = the URL of DEST). mode: "symlink" | "hardlink" | "copy" (in-memory files
        are always written). Returns the number of blobs."""
        n = 0
        with self._lock:
            repos = list(self._repos.values())
        for repo in repos:
            for sha, f in repo.blobs.items():
                target = os.path.join(dest, *repo.id.split("/"), sha)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.lexists(target):
                    os.unlink(target)
                if f.src is None:
                    with open(target, "wb") as out:
                        out.write(f.data)
                elif mode == "symlink":
                    os.symlink(f.src, target)
                elif mode == "hardlink":
                    try:
                        os.link(f.src, target)
                    except OSError:
                        shutil.copyfile(f.src, target)
                else:
                    shutil.copyfile(f.src, target)
                n += 1
        return n

    @staticmethod
    def nginx_conf(root, port, prefix="/tmp", host="127.0.0.1"):
        """A minimal nginx.conf serving ROOT on HOST:PORT (Range, keep-alive, sendfile)."""
        return (
            "daemon off;\nworker_processes 2;\npid %(p)s/nginx-hfsim.pid;\nerror_log %(p)s/nginx-hfsim.err warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
            "  keepalive_requests 100000;\n  keepalive_timeout 60;\n"
            "  client_body_temp_path %(p)s/nginx-hfsim-body;\n  proxy_temp_path %(p)s/nginx-hfsim-proxy;\n"
            "  fastcgi_temp_path %(p)s/nginx-hfsim-fcgi;\n  uwsgi_temp_path %(p)s/nginx-hfsim-uwsgi;\n"
            "  scgi_temp_path %(p)s/nginx-hfsim-scgi;\n  default_type application/octet-stream;\n"
            "  server {\n    listen %(h)s:%(port)d;\n    root %(root)s;\n    disable_symlinks off;\n"
            "    location / { try_files $uri =404; }\n  }\n}\n"
        ) % {"p": prefix, "h": host, "port": port, "root": os.path.abspath(root)}

    # --- configuration ------------------------------------------------------------------------
    def configure(self, page_size=None, url_ttl=None, gzip=None, tokens=None, redirects=None,
                  gated_metadata_public=None, cdn_reject_auth=None, remove_tokens=None):
        """Change settings at run time (also POST /_sim/config with the same keys)."""
        with self._lock:
            if page_size is not None:
                self.page_size = int(page_size)
            if url_ttl is not None:
                self.url_ttl = int(url_ttl)
            if gzip is not None:
                self.gzip = bool(gzip)
            if gated_metadata_public is not None:
                self.gated_metadata_public = bool(gated_metadata_public)
            if cdn_reject_auth is not None:
                self.cdn_reject_auth = bool(cdn_reject_auth)
            for t, acc in (tokens or {}).items():
                self.add_token(t, acc)
            for t in remove_tokens or ():
                self.remove_token(t)
            for old, new in (redirects or {}).items():
                self.add_redirect(old, new)

    def config(self):
        with self._lock:
            return {"endpoint": self.endpoint if self._servers else None,
                    "cdn_endpoint": self.cdn_endpoint if self._servers or self.cdn_base else None,
                    "page_size": self.page_size, "url_ttl": self.url_ttl, "gzip": self.gzip,
                    "gated_metadata_public": self.gated_metadata_public,
                    "cdn_reject_auth": self.cdn_reject_auth, "lfs_threshold": self.lfs_threshold,
                    "redirects": dict(self._redirects), "tokens": len(self._tokens)}

    # --- faults -------------------------------------------------------------------------------
    def add_fault(self, kind, path="*", *, count=1, skip=0, server="any", method=None, repo=None,
                  **params):
        """Arm a fault for the next `count` matching requests (None or -1: forever), after letting
        `skip` matching requests through. Returns its id. See FAULTS in the module for kinds."""
        return self._install_fault(Fault(kind, path, count=count, skip=skip, server=server,
                                         method=method, repo=repo, **params))

    def _install_fault(self, fault):
        with self._lock:
            self._faults.append(fault)
        return fault.id

    def remove_fault(self, fault_id):
        with self._lock:
            self._faults = [f for f in self._faults if f.id != fault_id]

    def clear_faults(self):
        with self._lock:
            self._faults = []

    def faults(self):
        """Armed faults (with remaining count and hits so far)."""
        with self._lock:
            return [f.to_json() for f in self._faults]

    def _fault_applies(self, f, method, plan):
        k = f.kind
        if plan.cls == "control":
            return False
        if k in BODY_FAULTS:
            return method == "GET" and plan.cls in ("content", "api")
        if k in RANGE_FAULTS:
            return method == "GET" and plan.cls == "content" and plan.has_range
        if k == "size_mismatch":
            return plan.cls == "api" or (plan.cls in ("content", "redirect") and plan.file is not None
                                         and "hub" == plan.role)
        return True

    def _fault_matches(self, f, role, method, raw_path, plan):
        if f.server != "any" and f.server != role:
            return False
        if f.method and f.method != method:
            return False
        if f.repo and not (plan.repo and fnmatch.fnmatchcase(plan.repo, f.repo)):
            return False
        if f.path in ("*", ""):
            return True
        cands = [urllib.parse.unquote(raw_path)]
        for p in plan.paths:
            cands.append(p)
            if plan.repo:
                cands.append("%s/%s" % (plan.repo, p))
        if f.kind == "size_mismatch" and plan.cls == "api":
            cands = cands[1:]  # listing: only entry paths count
        return any(fnmatch.fnmatchcase(c, f.path) for c in cands)

    def _take_fault(self, role, method, raw_path, plan):
        plan.role = role
        with self._lock:
            for f in list(self._faults):
                if not self._fault_applies(f, method, plan):
                    continue
                if not self._fault_matches(f, role, method, raw_path, plan):
                    continue
                if f.kind == "size_mismatch" and plan.cls == "api":
                    f_paths = [p for p in plan.paths if f.path in ("*", "") or fnmatch.fnmatchcase(p, f.path)
                               or fnmatch.fnmatchcase("%s/%s" % (plan.repo, p), f.path)]
                    if not f_paths:
                        continue
                if f.skip > 0:
                    f.skip -= 1
                    continue
                f.hits += 1
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        self._faults.remove(f)
                self._fault_hits.append({"id": f.id, "kind": f.kind, "server": role, "method": method,
                                         "path": raw_path, "file": plan.file_key})
                return f
        return None

    # --- stats --------------------------------------------------------------------------------
    def _reset_counters(self):
        with self._lock:
            self._requests = []
            self._files = {}
            self._blobs = {}
            self._fault_hits = []
            self._cdn_auth = []
            self._errors = []
            self._srv = {r: {"connections": 0, "requests": 0, "bytes": 0} for r in ("hub", "cdn")}

    def reset(self, faults=True):
        """Zero counters, the request log and recorded CDN Authorization headers; by default also
        clear the armed faults. Repos, tokens and settings stay."""
        self._reset_counters()
        if faults:
            self.clear_faults()

    def _conn_open(self, role, sock):
        with self._lock:
            self._conn_seq += 1
            self._open[role][self._conn_seq] = sock
            return self._conn_seq

    def _conn_close(self, role, cid):
        with self._lock:
            self._open[role].pop(cid, None)

    def _conn_count(self, role):
        with self._lock:
            self._srv[role]["connections"] += 1

    def _record_cdn_auth(self, path, value):
        with self._lock:
            self._cdn_auth.append({"path": path, "authorization": value, "time": time.time()})

    def _record_error(self, msg):
        with self._lock:
            self._errors.append(msg)

    def _account(self, role, file_key, blob, n, entry=None):
        with self._lock:
            if entry is not None:
                entry["bytes"] += n
            self._srv[role]["bytes"] += n
            if file_key:
                c = self._files.setdefault(file_key, {"hub_bytes": 0, "cdn_bytes": 0,
                                                      "hub_requests": 0, "cdn_requests": 0})
                c[role + "_bytes"] += n
            if blob and role == "cdn":
                b = self._blobs.setdefault(blob, {"cdn_bytes": 0, "cdn_requests": 0})
                b["cdn_bytes"] += n

    def _log_request(self, entry):
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            role = entry["server"]
            self._srv[role]["requests"] += 1
            fk = entry.get("file")
            if fk:
                c = self._files.setdefault(fk, {"hub_bytes": 0, "cdn_bytes": 0,
                                                "hub_requests": 0, "cdn_requests": 0})
                c[role + "_requests"] += 1
            blob = entry.pop("_blob", None)
            if blob:
                self._blobs.setdefault(blob, {"cdn_bytes": 0, "cdn_requests": 0})["cdn_requests"] += 1
            self._requests.append(entry)
            if len(self._requests) > LOG_LIMIT:
                del self._requests[: len(self._requests) - LOG_LIMIT]

    def stats(self, include_requests=True, since=0):
        """Everything a test may assert on (also GET /_sim/stats). Keys:
        hub/cdn: {connections, open_connections, requests, bytes}; files: {"org/name/path":
        {hub_bytes, cdn_bytes, hub_requests, cdn_requests}}; blobs: {sha256: {cdn_bytes,
        cdn_requests}}; cdn_auth_headers: [{path, authorization, time}]; faults (armed);
        fault_hits; errors; requests (log, seq > since) unless include_requests is False."""
        with self._lock:
            out = {}
            for r in ("hub", "cdn"):
                d = dict(self._srv[r])
                d["open_connections"] = len(self._open[r])
                out[r] = d
            out["hub"]["url"] = self.endpoint if self._servers else None
            out["cdn"]["url"] = self.cdn_endpoint if (self._servers or self.cdn_base) else None
            out["files"] = {k: dict(v) for k, v in self._files.items()}
            out["blobs"] = {k: dict(v) for k, v in self._blobs.items()}
            out["cdn_auth_headers"] = list(self._cdn_auth)
            out["faults"] = [f.to_json() for f in self._faults]
            out["fault_hits"] = list(self._fault_hits)
            out["errors"] = list(self._errors)
            if include_requests:
                out["requests"] = [dict(e) for e in self._requests if e["seq"] > since]
            return out

    def requests(self, server=None):
        """The request log: [{seq, time, server, conn, method, path, headers, range, status, bytes,
        file, fault[, error]}], oldest first. A request is logged when its answer starts; status
        and bytes are filled in while it is sent (status None: not yet; 0: dropped)."""
        with self._lock:
            return [dict(e) for e in self._requests if server is None or e["server"] == server]

    def bytes_sent(self, repo_id=None, path=None, server="all"):
        """Body bytes actually written to sockets. With repo_id and path: for that file (CDN bytes
        are attributed to the first path, in sorted order, having that sha256 in that repo);
        without: totals. server: "hub" | "cdn" | "all"."""
        roles = ("hub", "cdn") if server == "all" else (server,)
        with self._lock:
            if repo_id is None:
                return sum(self._srv[r]["bytes"] for r in roles)
            c = self._files.get("%s/%s" % (repo_id, path), {})
            return sum(c.get(r + "_bytes", 0) for r in roles)

    def connections(self, server="hub"):
        """Connections that carried at least one non-control request since the last reset."""
        with self._lock:
            return self._srv[server]["connections"]

    @property
    def cdn_auth_headers(self):
        with self._lock:
            return list(self._cdn_auth)

    # --- routing: hub -------------------------------------------------------------------------
    def _token_state(self, handler):
        """(state, token): state "none" | "valid" | "invalid"."""
        auth = handler.headers.get("Authorization")
        if auth is None:
            return "none", None
        m = re.fullmatch(r"\s*Bearer\s+(\S+)\s*", auth, re.I)
        with self._lock:
            if m and m.group(1) in self._tokens:
                return "valid", m.group(1)
        return "invalid", None

    def _has_access(self, token, repo_id):
        with self._lock:
            acc = self._tokens.get(token, set())
        return acc is None or repo_id in acc

    def _split_repo(self, segs):
        """segs: decoded path segments starting at the repo id. Returns (repo_id, rest)."""
        with self._lock:
            known = set(self._repos) | set(self._redirects)
        if len(segs) >= 2 and "%s/%s" % (segs[0], segs[1]) in known:
            return "%s/%s" % (segs[0], segs[1]), segs[2:]
        if segs and segs[0] in known:
            return segs[0], segs[1:]
        if len(segs) >= 2 and segs[1] not in ("resolve", "revision", "tree"):
            return "%s/%s" % (segs[0], segs[1]), segs[2:]
        return (segs[0] if segs else ""), segs[1:]

    def _check_access(self, handler, repo_id, download):
        """None when allowed, else an error _Response."""
        state, token = self._token_state(handler)
        if state == "invalid":
            msg = "Invalid credentials in Authorization header"
            return _error_response(401, None, msg)
        with self._lock:
            repo = self._repos.get(repo_id)
        if repo is None or (repo.private and not (state == "valid" and self._has_access(token, repo_id))):
            msg = "Repository not found"
            return _error_response(404 if state == "valid" else 401, "RepoNotFound", msg)
        if repo.gated and (download or not self.gated_metadata_public):
            if state != "valid":
                return _error_response(401, "GatedRepo",
                                       "Access to model %s is restricted. You must have access to it and be "
                                       "authenticated to access it. Please log in." % repo_id)
            if not self._has_access(token, repo_id):
                return _error_response(403, "GatedRepo",
                                       "Access to model %s is restricted and you are not in the authorized "
                                       "list. Visit https://huggingface.co/%s to ask for access." % (repo_id, repo_id))
        return None

    @staticmethod
    def _fixed(resp, cls="error", **kw):
        return _Plan(cls, lambda *a, **k: resp, **kw)

    def _route_hub(self, h):
        raw = h.raw_path.split("/")[1:]
        segs = [urllib.parse.unquote(s) for s in raw]
        not_found = _Response(404, [("Content-Type", "application/json; charset=utf-8")],
                              _json_bytes({"error": "Sorry, we can't find the page you are looking for."}))
        if len(segs) >= 3 and segs[0] == "api" and segs[1] == "models":
            repo_id, rest = self._split_repo(segs[2:])
            nrepo = len(repo_id.split("/"))
            raw_rest = raw[2 + nrepo:]
            with self._lock:
                new = self._redirects.get(repo_id)
            if new is not None:
                loc = "/api/models/%s/%s" % (new, "/".join(raw_rest)) if raw_rest else "/api/models/%s" % new
                if h.query_string:
                    loc += "?" + h.query_string
                return self._fixed(self._redirect(307, loc), cls="redirect", repo=repo_id)
            if not rest:
                return self._route_info(h, repo_id, "main")
            if rest[0] == "revision" and len(rest) == 2:
                return self._route_info(h, repo_id, rest[1])
            if rest[0] == "tree" and len(rest) >= 2:
                base = "/".join(rest[2:]).strip("/")
                return self._route_tree(h, repo_id, rest[1], raw_rest[1], base)
            return self._fixed(not_found)
        if not segs or segs[0] == "":
            return self._fixed(not_found)
        repo_id, rest = self._split_repo(segs)
        if len(rest) >= 2 and rest[0] == "resolve":
            nrepo = len(repo_id.split("/"))
            with self._lock:
                new = self._redirects.get(repo_id)
            if new is not None:
                loc = "/%s/%s" % (new, "/".join(raw[nrepo:]))
                if h.query_string:
                    loc += "?" + h.query_string
                return self._fixed(self._redirect(307, loc), cls="redirect", repo=repo_id)
            return self._route_resolve(h, repo_id, rest[1], "/".join(rest[2:]))
        return self._fixed(not_found)

    @staticmethod
    def _redirect(status, location):
        body = ("%s. Redirecting to %s" % ("Found" if status == 302 else "Temporary Redirect", location)).encode()
        return _Response(status, [("Location", location), ("Content-Type", "text/plain; charset=utf-8")], body)

    def _lookup_rev(self, repo_id, rev):
        with self._lock:
            repo = self._repos[repo_id]
        r = repo.lookup(rev)
        if r is None:
            return repo, None, _error_response(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        return repo, r, None

    def _open_api_rev(self, h, repo_id, rev):
        """(repo, revision, None) for an API listing, or (None, None, plan) answering an error."""
        err = self._check_access(h, repo_id, download=False)
        if err is None:
            repo, r, err = self._lookup_rev(repo_id, rev)
            if err is None:
                return repo, r, None
        return None, None, self._fixed(err, repo=repo_id)

    def _route_info(self, h, repo_id, rev):
        repo, r, refused = self._open_api_rev(h, repo_id, rev)
        if refused is not None:
            return refused
        blobs = h.query.get("blobs", ["false"])[0].lower() in ("1", "true", "yes")

        def build(adj=None, ir=False, allow_gzip=True):
            sib = []
            for p, f in r.files.items():
                d = {"rfilename": p}
                if blobs:
                    size = self._adjusted(adj, repo_id, p, f.size)
                    d["blobId"] = f.oid
                    d["size"] = size
                    if f.lfs:
                        d["lfs"] = {"sha256": f.sha256, "size": size, "pointerSize": len(f.pointer)}
                sib.append(d)
            org = repo_id.split("/")[0] if "/" in repo_id else None
            obj = {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                   "author": org, "sha": r.commit, "lastModified": LAST_MODIFIED, "createdAt": LAST_MODIFIED,
                   "private": repo.private, "gated": repo.gated, "disabled": False, "downloads": 0,
                   "likes": 0, "tags": [], "library_name": None, "siblings": sib,
                   "usedStorage": sum(f.size for f in r.files.values())}
            return _Response(200, [("Content-Type", "application/json; charset=utf-8"),
                                   ("X-Repo-Commit", r.commit)], _json_bytes(obj))

        return _Plan("api", build, repo=repo_id, paths=list(r.files) if blobs else [])

    @staticmethod
    def _adjusted(adj, repo_id, path, size):
        if adj is None:
            return size
        if adj.path not in ("*", "") and not (fnmatch.fnmatchcase(path, adj.path)
                                              or fnmatch.fnmatchcase("%s/%s" % (repo_id, path), adj.path)):
            return size
        if adj.get("size") is not None:
            return int(adj.get("size"))
        return max(0, size + int(adj.get("delta", 1)))

    def _route_tree(self, h, repo_id, rev, raw_rev, base):
        repo, r, refused = self._open_api_rev(h, repo_id, rev)
        if refused is not None:
            return refused
        if base and base not in r.dirs:
            msg = "%s does not exist on \"%s\"" % (base, rev) if base not in r.files else "%s is not a directory" % base
            return self._fixed(_error_response(404, "EntryNotFound", msg, [("X-Repo-Commit", r.commit)]),
                               repo=repo_id)
        recursive = h.query.get("recursive", ["false"])[0].lower() in ("1", "true", "yes")
        pre = base + "/" if base else ""
        items = []
        for d in sorted(r.dirs):
            if d.startswith(pre) and (recursive or "/" not in d[len(pre):]):
                items.append(("directory", d))
        for p in r.files:
            if p.startswith(pre) and (recursive or "/" not in p[len(pre):]):
                items.append(("file", p))
        items.sort(key=lambda it: it[1])
        limit = self.page_size
        if "limit" in h.query:
            try:
                limit = max(1, min(int(h.query["limit"][0]), 10000))
            except ValueError:
                pass
        offset = 0
        if "cursor" in h.query:
            try:
                cur = json.loads(base64.urlsafe_b64decode(h.query["cursor"][0].encode() + b"==").decode())
                offset = int(cur["o"])
                if cur.get("c") != r.commit or offset < 0:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return self._fixed(_error_response(400, None, "Invalid cursor"), repo=repo_id)
        page = items[offset:offset + limit]
        link = None
        if offset + limit < len(items):
            cur = base64.urlsafe_b64encode(_json_bytes({"o": offset + limit, "c": r.commit})).decode().rstrip("=")
            q = [(k, v) for k, vs in h.query.items() if k != "cursor" for v in vs] + [("cursor", cur)]
            host = h.headers.get("Host") or "%s:%d" % (self.host, self.hub_port)
            link = "<http://%s%s?%s>; rel=\"next\"" % (host, h.raw_path, urllib.parse.urlencode(q))

        def build(adj=None, ir=False, allow_gzip=True):
            out = []
            for kind, p in page:
                if kind == "directory":
                    out.append({"type": "directory", "oid": r.dir_oid(p), "size": 0, "path": p})
                else:
                    f = r.files[p]
                    size = self._adjusted(adj, repo_id, p, f.size)
                    e = {"type": "file", "oid": f.oid, "size": size, "path": p}
                    if f.lfs:
                        e["lfs"] = {"oid": f.sha256, "size": size, "pointerSize": len(f.pointer)}
                    out.append(e)
            hdrs = [("Content-Type", "application/json; charset=utf-8")]
            if link:
                hdrs.append(("Link", link))
            return _Response(200, hdrs, _json_bytes(out))

        return _Plan("api", build, repo=repo_id, paths=[p for k, p in page if k == "file"])

    def _route_resolve(self, h, repo_id, rev, path):
        err = self._check_access(h, repo_id, download=True)
        if err is not None:
            return self._fixed(err, repo=repo_id, paths=[path])
        repo, r, err = self._lookup_rev(repo_id, rev)
        if err is not None:
            return self._fixed(err, repo=repo_id, paths=[path])
        f = r.files.get(path)
        key = "%s/%s" % (repo_id, path)
        if f is None:
            return self._fixed(_error_response(404, "EntryNotFound", "Entry not found",
                                               [("X-Repo-Commit", r.commit)]), repo=repo_id, paths=[path])
        common = [("X-Repo-Commit", r.commit), ("Accept-Ranges", "bytes"),
                  ("Vary", "Origin, Accept-Encoding"), ("Access-Control-Expose-Headers",
                   "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,"
                   "Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag")]
        if f.lfs:
            def build(adj=None, ir=False, allow_gzip=True):
                hdrs = common + [("X-Linked-Size", str(self._adjusted(adj, repo_id, path, f.size))),
                                 ("X-Linked-Etag", '"%s"' % f.sha256), ("ETag", '"%s"' % f.oid)]
                resp = self._redirect(302, self._signed_url(repo_id, f))
                resp.headers = hdrs + resp.headers
                return resp
            return _Plan("redirect", build, repo=repo_id, file=f, file_key=key, paths=[path])
        rng_hdr = h.headers.get("Range")
        rng = _parse_range(rng_hdr, f.size)
        use_gzip = self.gzip and rng_hdr is None and f.size > 0 and _wants_gzip(h.headers.get("Accept-Encoding"))

        def build(adj=None, ir=False, allow_gzip=True):
            hdrs = common + [("X-Linked-Size", str(self._adjusted(adj, repo_id, path, f.size))),
                             ("X-Linked-Etag", '"%s"' % f.oid), ("Content-Type", _content_type(path)),
                             ("Last-Modified", HTTP_DATE)]
            return self._content_response(f, None if ir else rng, hdrs, '"%s"' % f.oid, use_gzip and allow_gzip)

        plan = _Plan("content" if rng != "unsat" else "error", build, repo=repo_id, file=f, file_key=key,
                     paths=[path], has_range=rng is not None)
        plan.gzip = use_gzip
        return plan

    @staticmethod
    def _content_response(f, rng, hdrs, etag, use_gzip=False):
        if rng == "unsat":
            return _Response(416, hdrs + [("Content-Range", "bytes */%d" % f.size), ("ETag", etag)],
                             b"Requested Range Not Satisfiable")
        if use_gzip:
            data = f.data
            if data is None:
                with open(f.src, "rb") as fh:
                    data = fh.read()
            resp = _Response(200, hdrs + [("ETag", "W/" + etag), ("Content-Encoding", "gzip")],
                             _gzip.compress(data, mtime=0), chunked=True)
        elif rng is None:
            resp = _Response(200, hdrs + [("ETag", etag)], file=f, start=0, length=f.size)
        else:
            a, b = rng
            resp = _Response(206, hdrs + [("ETag", etag), ("Content-Range", "bytes %d-%d/%d" % (a, b, f.size))],
                             file=f, start=a, length=b - a + 1)
        resp.is_content = True
        return resp

    # --- routing: CDN -------------------------------------------------------------------------
    def _route_cdn(self, h):
        def denied(msg):
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
                    "<Message>%s</Message></Error>" % msg).encode()
            return self._fixed(_Response(403, [("Content-Type", "application/xml")], body))

        cpath = urllib.parse.unquote(h.raw_path)
        parts = cpath.strip("/").split("/")
        if self.cdn_reject_auth and h.headers.get("Authorization") is not None:
            body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code>"
                    b"<Message>Only one auth mechanism allowed</Message></Error>")
            return self._fixed(_Response(400, [("Content-Type", "application/xml")], body))
        sig = h.query.get("sig", [None])[0]
        exp = h.query.get("exp", [None])[0]
        if not sig or not exp or not exp.isdigit():
            return denied("Missing signature")
        if not hmac.compare_digest(sig, self._sign(cpath, int(exp))):
            return denied("Invalid signature")
        if int(exp) < time.time():
            return denied("Request has expired")
        repo_id, sha = "/".join(parts[:-1]), parts[-1]
        with self._lock:
            repo = self._repos.get(repo_id)
        f = repo.blobs.get(sha) if repo else None
        if f is None:
            body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code></Error>"
            return self._fixed(_Response(404, [("Content-Type", "application/xml")], body))
        fname = h.query.get("f", [None])[0]
        if fname not in repo_paths_with_blob(repo, sha):
            fname = f.path
        key = "%s/%s" % (repo_id, fname)
        rng = _parse_range(h.headers.get("Range"), f.size)
        base = fname.rsplit("/", 1)[-1]
        hdrs = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                ("Last-Modified", HTTP_DATE), ("Cache-Control", "public, max-age=604800, immutable"),
                ("Content-Disposition", "inline; filename*=UTF-8''%s; filename=\"%s\";"
                 % (urllib.parse.quote(base), base.encode("ascii", "replace").decode())),
                ("X-Cache", "Hit from cloudfront")]

        def build(adj=None, ir=False, allow_gzip=True):
            return self._content_response(f, None if ir else rng, hdrs, '"%s"' % f.sha256)

        plan = _Plan("content" if rng != "unsat" else "error", build, repo=repo_id, file=f, file_key=key,
                     paths=[fname], has_range=rng is not None, blob=sha)
        return plan


def repo_paths_with_blob(repo, sha):
    paths = set()
    for r in repo.revisions.values():
        for p, f in r.files.items():
            if f.lfs and f.sha256 == sha:
                paths.add(p)
    return paths


# --- CLI ---------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description="Hugging Face Hub simulator (hub + CDN) for modelfs tests.")
    ap.add_argument("--repos-dir", help="DIR/<org>/<name>/<revision>/<files> (revision percent-encoded)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="hub port (0: ephemeral)")
    ap.add_argument("--cdn-port", type=int, default=0, help="CDN port (0: ephemeral)")
    ap.add_argument("--cdn-host", default=None, help="CDN bind address and Location host (default --host; "
                    "127.0.0.2 makes it a different host)")
    ap.add_argument("--cdn-base", default=None, help="redirect LFS files to URL/<repo_id>/<sha256>?... on an "
                    "external static server instead of the built-in CDN")
    ap.add_argument("--layout-cdn", metavar="DIR", help="lay out DIR/<repo_id>/<sha256> for --cdn-base")
    ap.add_argument("--link-mode", choices=("symlink", "hardlink", "copy"), default="symlink")
    ap.add_argument("--layout-only", action="store_true", help="exit after --layout-cdn")
    ap.add_argument("--nginx-conf", metavar="FILE", help="write a minimal nginx.conf serving --layout-cdn "
                    "on --nginx-port and exit (with --layout-only) or continue")
    ap.add_argument("--nginx-port", type=int, default=0)
    ap.add_argument("--port-file", help="write {hub_port, cdn_port, endpoint, cdn_endpoint, pid} here")
    ap.add_argument("--token", action="append", default=[], help="valid token with access to every repo "
                    "(repeatable); finer: DIR/.sim.json {\"tokens\": {tok: [repo ids]}}")
    ap.add_argument("--redirect", action="append", default=[], metavar="OLD=NEW",
                    help="renamed repo: OLD answers 307 with a relative Location to NEW")
    ap.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    ap.add_argument("--lfs-threshold", type=int, default=DEFAULT_LFS_THRESHOLD)
    ap.add_argument("--url-ttl", type=int, default=3600, help="seconds a signed CDN URL stays valid")
    ap.add_argument("--secret", default="hf-hub-sim-secret")
    ap.add_argument("--hash-cache", metavar="FILE", help="remember sha256/sha1 of files on disk here "
                    "(keyed by path, size, mtime, inode) so a restart need not hash them again")
    ap.add_argument("--no-gzip", action="store_true", help="never gzip small files")
    ap.add_argument("--faults", help="JSON list of faults armed at start (same objects as POST /_sim/faults)")
    ap.add_argument("--gated-metadata-private", action="store_true",
                    help="gated repos also refuse /api/ listings without access (the Hub allows them)")
    args = ap.parse_args(argv)

    sim = HubSim(host=args.host, port=args.port, cdn_port=args.cdn_port, cdn_host=args.cdn_host,
                 cdn_base=args.cdn_base, tokens=args.token, page_size=args.page_size,
                 lfs_threshold=args.lfs_threshold, secret=args.secret, url_ttl=args.url_ttl,
                 gzip=not args.no_gzip, gated_metadata_public=not args.gated_metadata_private,
                 hash_cache=args.hash_cache)
    if args.repos_dir:
        sim.load_dir(args.repos_dir)
    for r in args.redirect:
        old, _, new = r.partition("=")
        sim.add_redirect(old, new)
    if args.faults:
        for d in json.loads(args.faults):
            sim._install_fault(Fault.from_json(d))
    if args.layout_cdn:
        sim.layout_cdn_dir(args.layout_cdn, args.link_mode)
        if args.nginx_conf:
            with open(args.nginx_conf, "w") as f:
                f.write(HubSim.nginx_conf(args.layout_cdn, args.nginx_port,
                                          prefix=os.path.dirname(os.path.abspath(args.nginx_conf))))
        if args.layout_only:
            return 0

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    sim.start()
    if args.port_file:
        info = {"hub_port": sim.hub_port, "cdn_port": sim.cdn_port, "endpoint": sim.endpoint,
                "cdn_endpoint": sim.cdn_endpoint, "pid": os.getpid()}
        tmp = args.port_file + ".tmp.%d" % os.getpid()
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.port_file)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
