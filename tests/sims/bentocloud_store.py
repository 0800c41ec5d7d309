"""What bentocloud_sim.py stores, and its S3 side (Python 3 standard library only).

Storage
- Blob: one stored object (the model tar), in memory (``data``) or in a file (``path``), with its S3
  ETag (quoted md5 hex, or ``"<md5 of the binary part md5s>-N"`` after a multipart upload).
- BlobWriter: receives a body chunk by chunk into memory or a temp file and hashes it with MD5, so
  multi-GiB bodies never sit in RAM when a data directory is used.
- BlobStore: objects keyed by (repository, version) (DATA_DIR/objects/<repo>/<version>.tar with a data
  directory) plus S3-style multipart uploads: parts per upload id; complete wants ascending part
  numbers, matching ETags (quotes optional) and every part but the last >= min_part, else
  StoreError InvalidPartOrder | InvalidPart | EntityTooSmall | MalformedXML | NoSuchUpload.
- Registry: repository and model records; NotFound carries Yatai's "... record not found" text.
- Recorder: request counts, per-object traffic, faults, conformance warnings, events, request log.
- tar_members / payload_warnings: the members of a stored uncompressed tar (header and data offsets
  inside the blob, via TarInfo.offset / offset_data) and how a payload differs from BentoML's.
- parse_range: one HTTP byte range, the way S3 reads it (one range only; bad syntax is ignored).

HTTP and S3
- BlobHandler / TrackingServer: HTTP/1.1 plumbing (bodies by Content-Length or chunked, small unread
  bodies drained before answering, Content-Length on every answer, sendfile streaming, TCP RST).
- S3Front (mixin of BentoCloudSim): presigned URLs
    <blob_base or endpoint>/_blob/<repo>/<version>?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=..
    &X-Amz-Date=<UTC YYYYMMDDTHHMMSSZ>&X-Amz-Expires=<url_expires>&X-Amz-SignedHeaders=host
    [&partNumber=N&uploadId=ID]&X-Amz-Signature=<hex hmac-sha256(secret, "METHOD\n<path>\n<sorted query>")>
  and the endpoint behind them: signature over method, path and every other query parameter (403
  SignatureDoesNotMatch; none: 403 AccessDenied; expired: 403 AccessDenied "Request has expired");
  an Authorization header is 400 InvalidArgument like S3. GET/HEAD: 200, Range -> 206 +
  Content-Range, unsatisfiable -> 416 + "Content-Range: bytes */N", If-Match -> 412, If-None-Match
  -> 304, ETag, Accept-Ranges: bytes, Last-Modified. PUT: no Content-Length 411, chunked 501 (both
  close the connection), Content-MD5 checked (400 BadDigest), 200 + ETag "<md5 hex>". Errors are S3
  XML <Error><Code>..</Code><Message>..</Message>..</Error>.
"""

import base64
import datetime
import email.utils
import errno
import hashlib
import hmac
import http.server
import io
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import struct
import sys
import tarfile
import tempfile
import threading
import time
import types
import urllib.parse
import uuid
from xml.sax.saxutils import escape

CHUNK = 1 << 20
DRAIN_LIMIT = 16 * CHUNK
UTC = datetime.timezone.utc
BLOB_RE = re.compile(r"^/_blob/([^/]+)/([^/]+)$")
MAX_PART_NUMBER = 10000


class StoreError(Exception):
    """An S3 error: code (e.g. InvalidPart), message, HTTP status."""

    def __init__(self, code, message, status=400):
        super().__init__("%s: %s" % (code, message))
        self.code, self.message, self.status = code, message, status


class Blob:
    """A stored object or part. ``etag`` carries its quotes, like S3's ETag header."""

    def __init__(self, size, etag, md5=None, data=None, path=None, content_type=None):
        self.size, self.etag, self.md5 = size, etag, md5
        self.data, self.path = data, path
        self.content_type = content_type or "binary/octet-stream"
        self.mtime = time.time()
        self.tar = None  # cached tar_members() result (list) or error text (str)

    def open(self):
        return io.BytesIO(self.data) if self.path is None else open(self.path, "rb")

    def read(self, offset, length):
        if self.path is None:
            return bytes(memoryview(self.data)[offset:offset + length])
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), length, offset)

    def info(self):
        return {"size": self.size, "etag": self.etag, "stored": "memory" if self.path is None else "disk",
                "path": self.path, "content_type": self.content_type}


class BlobWriter:
    """Collects a body into memory (tmp_dir None) or a temp file in tmp_dir, hashing it with MD5."""

    def __init__(self, tmp_dir=None):
        self.md5 = hashlib.md5()
        self.size = 0
        self.path = None
        self.buf = bytearray()
        if tmp_dir:
            fd, self.path = tempfile.mkstemp(dir=tmp_dir, prefix="up-")
            self.file = os.fdopen(fd, "wb")

    def write(self, chunk):
        self.md5.update(chunk)
        self.size += len(chunk)
        if self.path is None:
            self.buf += chunk
        else:
            self.file.write(chunk)

    def finish(self, content_type=None):
        if self.path is not None:
            self.file.close()
        digest = self.md5.digest()
        data = bytes(self.buf) if self.path is None else None
        return Blob(self.size, '"%s"' % digest.hex(), digest, data, self.path, content_type)

    def abort(self):
        if self.path is not None:
            self.file.close()
            _unlink(self.path)


class Upload:
    def __init__(self, upload_id, key):
        self.id, self.key, self.parts, self.started = upload_id, key, {}, time.time()

    def info(self):
        return {"repo": self.key[0], "version": self.key[1],
                "parts": {str(n): {"size": p.size, "etag": p.etag} for n, p in sorted(self.parts.items())}}


class BlobStore:
    """Objects and multipart uploads, in memory or under data_dir (objects/, tmp/)."""

    def __init__(self, data_dir=None):
        self.data_dir = os.path.abspath(data_dir) if data_dir else None
        self.tmp_dir = os.path.join(self.data_dir, "tmp") if data_dir else None
        self._lock = threading.Lock()
        self._objects = {}
        self._uploads = {}
        if self.data_dir:
            os.makedirs(self.tmp_dir, exist_ok=True)
            os.makedirs(os.path.join(self.data_dir, "objects"), exist_ok=True)

    def writer(self):
        return BlobWriter(self.tmp_dir)

    def _object_path(self, key):
        d = os.path.join(self.data_dir, "objects", key[0])
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, key[1] + ".tar")

    def put(self, key, blob):
        """Stores blob as the object key = (repo, version), replacing any older one."""
        if blob.path is not None:
            dest = self._object_path(key)
            os.replace(blob.path, dest)
            blob.path = dest
        with self._lock:
            self._objects[key] = blob
        return blob

    def get(self, key):
        with self._lock:
            return self._objects.get(key)

    def objects(self):
        with self._lock:
            return dict(self._objects)

    def clear(self):
        with self._lock:
            objects, uploads = self._objects, self._uploads
            self._objects, self._uploads = {}, {}
        for blob in list(objects.values()) + [p for u in uploads.values() for p in u.parts.values()]:
            if blob.path:
                _unlink(blob.path)

    # --- multipart -----------------------------------------------------------------------------
    def start_multipart(self, key):
        upload_id = secrets.token_urlsafe(48)
        with self._lock:
            self._uploads[upload_id] = Upload(upload_id, key)
        return upload_id

    def upload(self, upload_id):
        with self._lock:
            return self._uploads.get(upload_id)

    def uploads(self):
        with self._lock:
            return {i: u.info() for i, u in self._uploads.items()}

    def put_part(self, upload_id, number, blob):
        with self._lock:
            upload = self._uploads.get(upload_id)
            old = upload.parts.get(number) if upload else None
            if upload:
                upload.parts[number] = blob
        if old is not None and old.path:
            _unlink(old.path)
        if upload is None:
            if blob.path:
                _unlink(blob.path)
            raise StoreError("NoSuchUpload", "The specified upload does not exist.", 404)

    def complete_multipart(self, upload_id, parts, min_part):
        """parts: [(part_number, etag)]. Validates like S3 and stores the concatenation."""
        with self._lock:
            upload = self._uploads.get(upload_id)
            chosen = _check_parts(upload, parts, min_part)
            del self._uploads[upload_id]
        blob = self._concatenate([p for _, p in chosen])
        for n, p in upload.parts.items():
            if p.path:
                _unlink(p.path)
        return self.put(upload.key, blob)

    def _concatenate(self, parts):
        etag = '"%s-%d"' % (hashlib.md5(b"".join(p.md5 for p in parts)).hexdigest(), len(parts))
        size = sum(p.size for p in parts)
        if self.tmp_dir is None:
            return Blob(size, etag, data=b"".join(p.data for p in parts))
        fd, path = tempfile.mkstemp(dir=self.tmp_dir, prefix="mp-")
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with open(p.path, "rb") as src:
                    shutil.copyfileobj(src, out, 8 * CHUNK)
        return Blob(size, etag, path=path)


def _check_parts(upload, parts, min_part):
    if upload is None:
        raise StoreError("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, "
                         "or the upload may have been aborted or completed.", 404)
    if not parts:
        raise StoreError("MalformedXML", "The XML you provided was not well-formed or did not validate "
                         "against our published schema.")
    numbers = [n for n, _ in parts]
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        raise StoreError("InvalidPartOrder", "The list of parts was not in ascending order. The parts list "
                         "must be specified in order by part number.")
    chosen = []
    for n, etag in parts:
        p = upload.parts.get(n)
        if p is None or str(etag).strip().strip('"') != p.etag.strip('"'):
            raise StoreError("InvalidPart", "One or more of the specified parts could not be found. The part "
                             "may not have been uploaded, or the specified entity tag may not match the part's "
                             "entity tag. (part %d)" % n)
        chosen.append((n, p))
    for n, p in chosen[:-1]:
        if p.size < min_part:
            raise StoreError("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size "
                             "(part %d has %d bytes, minimum %d)" % (n, p.size, min_part))
    return chosen


def now():
    return datetime.datetime.now(UTC)


class NotFound(Exception):
    """A missing record; the API answers 404 {"error": "<message>"} like gorm's ErrRecordNotFound."""


class Registry:
    """Repository and model records (namespaces with the schema fields). Callers hold the lock."""

    def __init__(self):
        self.repos = {}
        self._ids = itertools.count(1)

    def new_repo(self, name, description):
        t = now()
        r = types.SimpleNamespace(name=name, uid=str(uuid.uuid4()), id=next(self._ids), created_at=t, updated_at=t,
                                  description=description, labels=[], models={})
        self.repos[name] = r
        return r

    def new_model(self, r, version, description, manifest, labels, build_at):
        t = now()
        m = types.SimpleNamespace(repo=r.name, name=version, version=version, uid=str(uuid.uuid4()),
                                  id=next(self._ids), created_at=t, updated_at=t, description=description,
                                  manifest=manifest, labels=labels, build_at=build_at, upload_status="pending",
                                  reason="", upload_id="", upload_started_at=None, upload_finished_at=None,
                                  proxy_upload=False)
        r.models[version] = m
        return m

    def repo(self, name):
        r = self.repos.get(name)
        if r is None:
            raise NotFound("get model repository: record not found")
        return r

    def model(self, repo, version):
        m = self.repo(repo).models.get(version)
        if m is None:
            raise NotFound("get model: record not found")
        return m

    def latest(self, r):
        """Yatai's latest_model: the model created last."""
        return max(r.models.values(), key=lambda m: m.id, default=None)

    def repo_models(self, name):
        """Yatai's per-repository list order: build_at DESC."""
        return sorted(self.repo(name).models.values(), key=lambda m: (m.build_at, m.id), reverse=True)

    def all_models(self, q=""):
        return _q_filter([m for r in self.repos.values() for m in r.models.values()], q)


def _q_filter(models, q):
    """Yatai's Q for /api/v1/models: words, [-]label:k[=v][,..], [-]module:, sort:<field>-<asc|desc>."""
    key, desc = "created_at", True
    for tok in q.split():
        neg, (name, sep, val) = tok.startswith("-"), tok.lstrip("-").partition(":")
        if not sep:
            models = [m for m in models if tok in m.repo or tok in m.version]
        elif name == "sort":
            field, _, order = val.rpartition("-")
            key, desc = (field if field in ("created_at", "build_at", "size") else key), order != "asc"
        elif name == "label":
            models = [m for m in models if _labels_match(m.labels, val) != neg]
        elif name == "module":
            models = [m for m in models if (m.manifest.get("module") == val) != neg]
    sort_key = (lambda m: (m.manifest.get("size_bytes", 0), m.id)) if key == "size" else \
        (lambda m: (getattr(m, key), m.id))
    return sorted(models, key=sort_key, reverse=desc)


def _labels_match(labels, spec):
    have = {(x["key"], x["value"]) for x in labels}
    keys = {x["key"] for x in labels}
    for item in filter(None, spec.split(",")):
        k, sep, v = item.partition("=")
        if (k, v) not in have if sep else k not in keys:
            return False
    return True


class Recorder:
    """What the simulator saw (/_stats, /_log): request counts, per-object traffic, faults, the
    X-Bentoml-Version values, conformance warnings (deduplicated, counted), per-model events."""
    EVENTS_PER_MODEL = 1000
    LOG_LIMIT = 100000
    BLOB_FIELDS = ("gets", "range_gets", "heads", "proxy_gets", "bytes_served", "puts", "part_puts", "proxy_puts",
                   "bytes_uploaded")

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._st = {"requests": {}, "auth_failures": 0, "blobs": {}, "bytes_served": 0, "bytes_uploaded": 0,
                        "auth_seen_on_blob": 0, "faults": {"get": {}, "put": {}}, "x_bentoml_versions": {},
                        "conformance": [], "events": {}, "errors": []}
            self._warnings, self._log, self._seq = {}, [], 0

    def stats(self):
        with self._lock:
            st = json.loads(json.dumps(self._st))
        st["requests_total"] = sum(st["requests"].values())
        st["faults_total"] = sum(n for d in st["faults"].values() for n in d.values())
        return st

    def log(self, since=0):
        with self._lock:
            return [dict(e) for e in self._log if e["seq"] > since]

    def count(self, route):
        self.tally("requests", route)

    def tally(self, *path):
        """Adds 1 to the counter at _st[path[0]]...[path[-1]]."""
        with self._lock:
            d = self._st
            for k in path[:-1]:
                d = d[k]
            d[path[-1]] = d.get(path[-1], 0) + 1

    def bump(self, counter):
        with self._lock:
            self._st[counter] += 1

    def blob(self, key, field, n=1):
        with self._lock:
            d = self._st["blobs"].setdefault("%s:%s" % key, dict.fromkeys(self.BLOB_FIELDS, 0))
            d[field] += n
            if field in ("bytes_served", "bytes_uploaded"):
                self._st[field] += n

    def event(self, key, text):
        with self._lock:
            ev = self._st["events"].setdefault("%s:%s" % key, [])
            if len(ev) < self.EVENTS_PER_MODEL:
                ev.append(text)

    def warn(self, h, text):
        with self._lock:
            w = self._warnings.get(text)
            if w is None:
                w = self._warnings[text] = {"warning": text, "method": h.command, "path": h.url.path, "count": 0}
                self._st["conformance"].append(w)
            w["count"] += 1

    def error(self, text):
        with self._lock:
            self._st["errors"].append(text)

    def request(self, h):
        """Logs request h when its answer starts (h.entry; a client that got an answer finds it logged)."""
        with self._lock:
            if h.entry is None:
                self._seq += 1
                h.entry = {"seq": self._seq, "time": time.time(), "method": h.command, "path": h.path,
                           "route": h.route or "unknown", "status": h.status or 0, "bytes_in": h.bytes_in,
                           "bytes_out": 0, "token": "X-YATAI-API-TOKEN" in h.headers,
                           "x_bentoml_version": h.headers.get("X-Bentoml-Version")}
                if len(self._log) < self.LOG_LIMIT:
                    self._log.append(h.entry)

    def request_done(self, h):
        self.request(h)
        with self._lock:
            h.entry.update(status=h.status or 0, bytes_in=h.bytes_in, bytes_out=h.bytes_out)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# --- HTTP ranges -------------------------------------------------------------------------------
UNSATISFIABLE = "unsatisfiable"


def parse_range(value, size):
    """None (no usable Range: serve everything), UNSATISFIABLE, or (first, last) inclusive.
    Several ranges or bad syntax are ignored, as S3 does."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value or "")
    if not m or m.groups() == ("", ""):
        return None
    first, last = m.groups()
    if first == "":
        n = int(last)
        return UNSATISFIABLE if n == 0 or size == 0 else (max(0, size - n), size - 1)
    start = int(first)
    if start >= size:
        return UNSATISFIABLE
    end = size - 1 if last == "" else min(int(last), size - 1)
    return None if end < start else (start, end)


# --- tar payloads ------------------------------------------------------------------------------
_TYPES = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
          tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CONTTYPE: "file"}
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def tar_members(blob):
    """[{name, type, size, offset (first header, PAX header included), offset_data, mode, mtime,
    linkname}] of an uncompressed tar blob; raises ValueError if it is not one. Cached on the blob."""
    if blob.tar is None:
        try:
            with blob.open() as f, tarfile.open(fileobj=f, mode="r:") as tf:
                blob.tar = [_member_info(m) for m in tf]
        except (tarfile.TarError, EOFError, OSError) as e:
            blob.tar = "not an uncompressed tar: %s" % e
    if isinstance(blob.tar, str):
        raise ValueError(blob.tar)
    return blob.tar


def _member_info(m):
    return {"name": m.name, "type": _TYPES.get(m.type, "other:%s" % m.type.decode("latin-1")),
            "size": m.size, "offset": m.offset, "offset_data": m.offset_data, "mode": m.mode,
            "mtime": m.mtime, "linkname": m.linkname}


def payload_warnings(blob):
    """How a stored payload differs from BentoML's: an uncompressed tar holding ./model.yaml."""
    if blob.size == 0:
        return ["payload is empty (BentoML uploads a tar holding ./model.yaml)"]
    head = blob.read(0, 8)
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            return ["payload is %s-compressed; BentoML uploads an uncompressed tar (mode \"w:\")" % name]
    try:
        members = tar_members(blob)
    except ValueError as e:
        return ["payload is %s" % e]
    names = [m["name"] for m in members]
    out = []
    if "./model.yaml" not in names:
        out.append("payload has no ./model.yaml member%s (BentoML writes tar.add(dir, arcname=\"./\"))"
                   % (" (it has model.yaml without ./)" if "model.yaml" in names else ""))
    for n in names:
        if n.startswith("/") or ".." in n.split("/"):
            out.append("payload member %r escapes the model directory (safe_extract_tarfile skips it)" % n)
    return out


# --- HTTP plumbing -----------------------------------------------------------------------------
def _etag_in(header, etag):
    return any(t.strip() == "*" or t.strip().removeprefix("W/").strip('"') == etag.strip('"')
               for t in header.split(","))


def s3_error_xml(code, message, resource=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<Resource>%s</Resource><RequestId>%s</RequestId></Error>'
            % (code, escape(message), escape(resource), secrets.token_hex(8).upper())).encode()


class IncompleteBody(Exception):
    pass


class BlobHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 plumbing: request bodies (Content-Length or chunked), answers that always carry
    Content-Length, blob streaming (sendfile from disk), and abortive closes (RST)."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def begin(self):
        self.url = urllib.parse.urlsplit(self.path)
        self.query = dict(urllib.parse.parse_qsl(self.url.query, keep_blank_values=True))
        self.chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        cl = (self.headers.get("Content-Length") or "").strip()
        self.length = int(cl) if cl.isdigit() else None
        if cl and not cl.isdigit():
            self.close_connection = True
        self.body_left = 0 if self.chunked else (self.length or 0)
        self.status, self.bytes_in, self.bytes_out = None, 0, 0
        self.route = self.entry = self.on_answer = None

    def iter_body(self, chunk=CHUNK):
        if self.chunked:
            yield from self._iter_chunked(chunk)
        while self.body_left > 0:
            data = self.rfile.read(min(chunk, self.body_left))
            if not data:
                self.close_connection = True
                raise IncompleteBody("the client sent %d bytes fewer than Content-Length" % self.body_left)
            self.body_left -= len(data)
            self.bytes_in += len(data)
            yield data

    def _iter_chunked(self, chunk):
        while True:
            line = self.rfile.readline(65537)
            try:
                n = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise IncompleteBody("bad chunk size line %r" % line[:40])
            if n == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                self.chunked = False
                return
            while n > 0:
                data = self.rfile.read(min(chunk, n))
                if not data:
                    self.close_connection = True
                    raise IncompleteBody("the chunked body ended early")
                n -= len(data)
                self.bytes_in += len(data)
                yield data
            self.rfile.readline(65537)

    def settle_body(self):
        """Before answering: read an unread body of up to DRAIN_LIMIT bytes (so the client can finish
        sending and read the answer), else give up keep-alive."""
        if self.body_left > DRAIN_LIMIT:
            self.close_connection = True
            return
        drained = 0
        try:
            for data in self.iter_body():
                drained += len(data)
                if drained > DRAIN_LIMIT:
                    self.close_connection = True
                    return
        except (OSError, IncompleteBody):
            self.close_connection = True

    def send_head(self, status, length, ctype=None, headers=()):
        self.settle_body()
        self.status = status
        if self.on_answer:
            self.on_answer()
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def send(self, status, body=b"", ctype=None, headers=()):
        self.send_head(status, len(body), ctype, headers)
        if body and self.command != "HEAD":
            self.wfile.write(body)
            self.bytes_out += len(body)

    def send_json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj).encode(), "application/json; charset=utf-8", headers)

    def send_s3_error(self, status, code, message, headers=()):
        self.send(status, s3_error_xml(code, message, self.url.path), "application/xml",
                  (("x-amz-request-id", secrets.token_hex(8).upper()),) + tuple(headers))

    def stream_blob(self, blob, start, count, flip=None, rate=0, account=None):
        """Sends count bytes of blob from start (sendfile from disk when possible). flip: body offset
        of a byte sent XOR 0xFF; rate: bytes/s (0: unlimited); account(n) just before each chunk goes
        to the kernel (so a client that has the bytes finds them counted)."""
        sock, sent, t0 = self.connection, 0, time.monotonic()
        step = max(1, min(CHUNK, rate // 10)) if rate else 8 * CHUNK
        fd = os.open(blob.path, os.O_RDONLY) if blob.path else None
        try:
            while sent < count:
                n = min(step, count - sent)
                self.bytes_out += n
                if account:
                    account(n)
                if fd is not None and flip is None:
                    k = _sendfile(sock, fd, start + sent, n)
                    self.bytes_out += k - n
                    if account and k != n:
                        account(k - n)
                    n = k
                else:
                    data = os.pread(fd, n, start + sent) if fd is not None else \
                        memoryview(blob.data)[start + sent:start + sent + n]
                    if flip is not None and sent <= flip < sent + n:
                        data = bytearray(data)
                        data[flip - sent] ^= 0xFF
                    sock.sendall(data)
                sent += n
                if rate and sent / rate > time.monotonic() - t0:
                    time.sleep(sent / rate - (time.monotonic() - t0))
        finally:
            if fd is not None:
                os.close(fd)

    def reset_connection(self):
        """Abortive close (TCP RST) once the kernel has sent what was written."""
        sock, self.close_connection, self.status = self.connection, True, self.status or 0
        try:
            import fcntl
            import termios
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                if struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0] <= 0:
                    break
                time.sleep(0.002)
        except Exception:
            pass
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            sock.close()
        except OSError:
            pass


def _sendfile(sock, fd, offset, count):
    try:
        n = os.sendfile(sock.fileno(), fd, offset, count)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        data = os.pread(fd, count, offset)
        sock.sendall(data)
        return len(data)
    if n == 0:
        raise BrokenPipeError("sendfile sent nothing")
    return n


class TrackingServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer (daemon threads) that knows its open connections, so that stopping it can
    close idle keep-alive ones, and reports unexpected handler exceptions to on_error(text)."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, sim, on_error):
        self.sim, self.on_error, self._conns, self._conns_lock = sim, on_error, set(), threading.Lock()
        super().__init__(addr, handler)

    def track(self, sock, opened):
        with self._conns_lock:
            (self._conns.add if opened else self._conns.discard)(sock)

    def close_connections(self):
        with self._conns_lock:
            socks = list(self._conns)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            self.on_error(repr(exc))


class S3Front:
    """Mixin of the simulator: presigned URLs and the S3-like /_blob/<repo>/<version> endpoint.
    The host class provides store (BlobStore), rec (Recorder), cfg (url_expires, blob_base, slow_delay,
    slow_rate), secret (bytes), endpoint and _take_fault(kind) -> fault name or None."""

    def _sign(self, method, path, params):
        canon = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                         for k, v in sorted(params))
        return hmac.new(self.secret, ("%s\n%s\n%s" % (method, path, canon)).encode(), "sha256").hexdigest()

    def presign(self, method, repo, version, **extra):
        """A presigned URL for METHOD on the object repo:version (extra: partNumber=, uploadId=)."""
        date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        params = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                  ("X-Amz-Credential", "SIMACCESSKEY/%s/us-east-1/s3/aws4_request" % date[:8]),
                  ("X-Amz-Date", date), ("X-Amz-Expires", str(self.cfg["url_expires"])),
                  ("X-Amz-SignedHeaders", "host")] + sorted(extra.items())
        path = "/_blob/%s/%s" % (urllib.parse.quote(repo, safe=""), urllib.parse.quote(version, safe=""))
        params.append(("X-Amz-Signature", self._sign(method, path, params)))
        return (self.cfg["blob_base"] or self.endpoint) + path + "?" + urllib.parse.urlencode(params)

    def _check_signature(self, h):
        pairs = urllib.parse.parse_qsl(h.url.query, keep_blank_values=True)
        sig = [v for k, v in pairs if k == "X-Amz-Signature"]
        if not sig:
            raise StoreError("AccessDenied", "Access Denied (no X-Amz-Signature)", 403)
        rest = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
        if not hmac.compare_digest(sig[-1], self._sign(h.command, h.url.path, rest)):
            raise StoreError("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                             "signature you provided. Check your key and signing method.", 403)
        q = dict(rest)
        try:
            signed = datetime.datetime.strptime(q["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            expired = time.time() > signed + int(q["X-Amz-Expires"])
        except (KeyError, ValueError):
            expired = True
        if expired:
            raise StoreError("AccessDenied", "Request has expired", 403)

    def _serve_blob(self, h, route):
        self.rec.count(route)
        if "X-YATAI-API-TOKEN" in h.headers or "Authorization" in h.headers:
            self.rec.bump("auth_seen_on_blob")
            self.rec.warn(h, "%s to a presigned URL carries %s (BentoML uses bare httpx for presigned URLs)"
                          % (h.command, "Authorization" if "Authorization" in h.headers else "X-YATAI-API-TOKEN"))
        if "Authorization" in h.headers:
            raise StoreError("InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                             "parameter, Signature query string parameter or the Authorization header should be "
                             "specified")
        self._check_signature(h)
        m = BLOB_RE.match(h.url.path)
        if not m:
            raise StoreError("NoSuchKey", "The specified key does not exist.", 404)
        key = (urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2)))
        if h.command in ("GET", "HEAD"):
            return self._blob_get(h, key)
        if h.command == "PUT":
            return self._blob_put(h, key)
        raise StoreError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)

    def _blob_get(self, h, key):
        blob = self.store.get(key)
        if blob is None:
            raise StoreError("NoSuchKey", "The specified key does not exist.", 404)
        hdrs = [("ETag", blob.etag), ("Last-Modified", email.utils.formatdate(blob.mtime, usegmt=True)),
                ("Accept-Ranges", "bytes")]
        if h.headers.get("If-Match") and not _etag_in(h.headers["If-Match"], blob.etag):
            raise StoreError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)
        if h.headers.get("If-None-Match") and _etag_in(h.headers["If-None-Match"], blob.etag):
            return h.send(304, headers=hdrs)
        rng = parse_range(h.headers.get("Range"), blob.size)
        if rng == UNSATISFIABLE:
            return h.send_s3_error(416, "InvalidRange", "The requested range is not satisfiable",
                                   (("Content-Range", "bytes */%d" % blob.size),))
        self.rec.blob(key, "heads" if h.command == "HEAD" else "gets")
        if rng and h.command == "GET":
            self.rec.blob(key, "range_gets")
        self.rec.event(key, "blob_%s%s" % (h.command.lower(), " range" if rng else ""))
        start, end = rng or (0, blob.size - 1)
        if rng:
            hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, blob.size)))
        fault = self._take_fault("get") if h.command == "GET" else None
        self._send_blob(h, key, blob, 206 if rng else 200, start, end - start + 1, hdrs, fault, xml=True)

    def _send_blob(self, h, key, blob, status, start, length, headers, fault, xml):
        if fault in ("500", "429"):
            return self._fault_answer(h, int(fault), xml)
        if fault == "slow":
            time.sleep(self.cfg["slow_delay"])
        ctype = blob.content_type if xml else "application/octet-stream"
        h.send_head(status, length, ctype, headers)
        if h.command == "HEAD":
            return
        limit = length // 2 if fault in ("reset", "truncate") else length
        flip = length // 2 if fault == "corrupt" and length else None
        rate = self.cfg["slow_rate"] if fault == "slow" else 0
        h.stream_blob(blob, start, limit, flip, rate, lambda n: self.rec.blob(key, "bytes_served", n))
        if fault == "reset":
            h.reset_connection()
        elif fault == "truncate":
            h.close_connection = True

    @staticmethod
    def _fault_answer(h, status, xml):
        hdrs = (("Retry-After", "1"),) if status in (429, 503) else ()
        if not xml:
            return h.send_json(status, {"error": "injected fault: HTTP %d" % status}, hdrs)
        code, msg = {500: ("InternalError", "We encountered an internal error. Please try again."),
                     429: ("SlowDown", "Please reduce your request rate."),
                     503: ("SlowDown", "Please reduce your request rate.")}[status]
        h.send_s3_error(status, code, msg, hdrs)

    def _put_fault(self, h, fault, xml):
        try:
            for _ in h.iter_body():
                pass
        except (IncompleteBody, OSError):
            h.close_connection = True
            return
        if fault == "reset":
            return h.reset_connection()
        self._fault_answer(h, int(fault), xml)

    def _receive(self, h, key, counter):
        """Reads the request body into a new Blob (None if it ended early), counting the bytes."""
        w = self.store.writer()
        try:
            for data in h.iter_body():
                w.write(data)
                self.rec.blob(key, "bytes_uploaded", len(data))
        except (IncompleteBody, OSError):
            w.abort()
            h.close_connection = True
            return None
        self.rec.blob(key, counter)
        return w.finish(h.headers.get("Content-Type"))

    def _stored(self, h, key, blob, event):
        self.rec.event(key, "%s %d bytes" % (event, blob.size))
        for text in payload_warnings(blob):
            self.rec.warn(h, "%s:%s %s" % (key[0], key[1], text))

    def _blob_put(self, h, key):
        if h.chunked:
            h.close_connection = True
            self.rec.warn(h, "PUT to a presigned URL with chunked Transfer-Encoding (S3 answers 501)")
            raise StoreError("NotImplemented", "A header you provided implies functionality that is not "
                             "implemented (Transfer-Encoding)", 501)
        if h.length is None:
            h.close_connection = True
            self.rec.warn(h, "PUT to a presigned URL without Content-Length (S3 answers 411)")
            raise StoreError("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
        part = self._part_target(h, key)
        fault = self._take_fault("put")
        if fault:
            return self._put_fault(h, fault, xml=True)
        blob = self._receive(h, key, "part_puts" if part else "puts")
        if blob is None:
            return
        md5 = h.headers.get("Content-MD5")
        if md5 and md5.strip() != base64.b64encode(blob.md5).decode():
            if blob.path:
                os.unlink(blob.path)
            raise StoreError("BadDigest", "The Content-MD5 you specified did not match what we received.")
        if part:
            self.store.put_part(part[0], part[1], blob)
            self.rec.event(key, "part_put:%d %d bytes" % (part[1], blob.size))
        else:
            self._stored(h, key, self.store.put(key, blob), "blob_put")
        h.send(200, headers=(("ETag", blob.etag),))

    def _part_target(self, h, key):
        number, upload_id = h.query.get("partNumber"), h.query.get("uploadId")
        if number is None and upload_id is None:
            return None
        upload = self.store.upload(upload_id or "")
        if upload is None or upload.key != key:
            raise StoreError("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, "
                             "or the upload may have been aborted or completed.", 404)
        if not (number or "").isdigit() or not 1 <= int(number) <= 10000:
            raise StoreError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
        return upload_id, int(number)
