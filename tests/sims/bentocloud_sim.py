#!/usr/bin/env python3
"""BentoCloud (Yatai) model-registry simulator for modelfs tests (Python 3 standard library only).

Reference: BENTOCLOUD-API.md (BentoML's client, Yatai's server). One ThreadingHTTPServer on 127.0.0.1,
HTTP/1.1 keep-alive, Content-Length on every answer. Storage, the S3 side and the HTTP plumbing are in
bentocloud_store.py (see its docstring for the S3 details).

API (JSON; X-YATAI-API-TOKEN must equal api_key, else auth_status (401) {"error","message"})
  GET   /api/v1/auth/current | /api/v1/current_org      UserSchema | OrganizationSchema
  GET   /api/v1/model_repositories[?start&count]        list (a Yatai route BentoML does not use)
  POST  /api/v1/model_repositories {name, description}  ModelRepositorySchema
  GET   /api/v1/model_repositories/{r}                  ModelRepositorySchema (latest_model: created last)
  GET   /api/v1/model_repositories/{r}/models[?start&count&q]  {total,start,count,items}, build_at DESC,
        q ignored like Yatai, all items without count
  POST  /api/v1/model_repositories/{r}/models           CreateModelSchema -> ModelSchema (pending)
  GET   /api/v1/model_repositories/{r}/models/{v}       ModelSchema + repository + bentos
  PATCH .../{v}/presign_upload_url | presign_download_url | start_upload | start_multipart_upload (no body)
  PATCH .../{v}/finish_upload {status,reason} | presign_multipart_upload_url {upload_id,part_number}
        | complete_multipart_upload {parts:[{part_number,etag}],upload_id}
  PUT   .../{v}/upload      proxy upload: uploading -> success, 200 empty (chunked accepted, with a warning)
  GET   .../{v}/download    proxy download: 200, the whole tar (Range ignored); no object: 500 {"error"}
  GET   /api/v1/models[?start&count&q]  all models + repository; q: words, [-]label:k[=v][,..],
        [-]module:M, sort:<created_at|build_at|size>-<asc|desc> (default created_at DESC)
  Times: RFC3339Nano UTC ("2026-01-01T10:00:00.000001Z"). Errors: 404 {"error":"get model repository:
  record not found"} / {"error":"get model: record not found"}; 400 {"error"} for bad names (BentoML tag
  regex, <= 63), "parse build at: ..." (build_at must be "YYYY-MM-DD HH:MM:SS.ffffff"), duplicates, bad
  JSON, "failed to complete multipart upload: <S3 code>: ..."; unknown route 404 {"message":"not found
  this router with method X"}.

SETTINGS (constructor keywords, /_config, environment; CLI flags for some)
  api_key      BENTOCLOUD_API_KEY, default "bentocloud-sim-token"
  strategy     BENTOCLOUD_STRATEGY: presigned_url (default; transmission_strategy null, presign gives one
               URL), multipart ("presigned_url": S3 multipart), proxy ("proxy"; presign gives URLs unless
               X-Bentoml-Version <= 1.0.5: then "" and presigned_urls_deprecated), legacy_proxy (null, "")
  min_part     BENTOCLOUD_MIN_PART, default 5 MiB: smallest multipart part but the last
  auth_status  BENTOCLOUD_AUTH_STATUS, default 401
  fault        BENTOCLOUD_FAULT: reset|500|429|truncate|corrupt|slow on every fault_every-th blob GET or
               proxy download. reset: headers + half the body, then TCP RST; truncate: the same, then a
               clean close; corrupt: the body's middle byte XOR 0xFF; 429 with Retry-After: 1; slow:
               sleep slow_delay (1.0 s), then slow_rate (1 MiB/s; 0: unlimited)
  put_fault    BENTOCLOUD_PUT_FAULT: reset|500|503 (Retry-After: 1) on every fault_every-th blob PUT or
               proxy upload, after reading the body
  fault_every  BENTOCLOUD_FAULT_EVERY, default 1. "none" clears a fault; setting any fault knob restarts
               the counters. The errors are S3 XML on /_blob, {"error"} on the API.
  url_expires  X-Amz-Expires of new URLs (3600); blob_base (BENTOCLOUD_BLOB_BASE): their base URL
               (default this server; the signed path stays /_blob/<r>/<v>)

CONTROL (no auth, not counted or logged; GET or POST; settings as query or JSON object)
  /_config[?key=value...]  the settings (unknown key or bad value: 400)
  /_stats   {requests{route}, requests_total, auth_failures, blobs{"r:v": {gets, range_gets, heads,
            proxy_gets, bytes_served, puts, part_puts, proxy_puts, bytes_uploaded}}, bytes_served,
            bytes_uploaded, auth_seen_on_blob, faults{get|put: {kind: n}}, faults_total,
            x_bentoml_versions{value|"": n}, conformance[{warning, method, path, count}],
            events{"r:v": [...]}, errors[]}
  /_reset[?data=1]  zero stats, log and fault counters (data=1: drop every repository and object too)
  /_state   {endpoint, config, repositories{r: {uid, created_at, description, models{v: ModelSchema +
            object{size, etag, stored, path, content_type}|null}}}, multipart_uploads{id: {repo, version,
            parts}}}
  /_log[?since=SEQ]  [{seq, time, method, path, route, status, bytes_in, bytes_out, token, x_bentoml_version}]
  /_tar/<r>/<v>      {repo, version, size, etag, members:[{name, type (file|dir|symlink|hardlink|other:X),
                     size, offset, offset_data, mode, mtime, linkname}]} (404 no object, 400 not a tar)
  PUT|POST /_seed/<r>/<v>[?build_at=&labels=k=v,..&module=]  body = payload: a pushed model (success)
  /_health  {"ok": true}
  Conformance warnings: API request without X-Bentoml-Version, token or Authorization on a presigned
  URL, PATCH with a body where BentoML sends none, missing request keys, null manifest objects, bad
  build_at, chunked or length-less uploads, a payload that is not an uncompressed tar with ./model.yaml,
  finish_upload without start_upload or after a proxy upload, finish success without an object.

CLI  python3 bentocloud_sim.py --host 127.0.0.1 --port 0 [--api-key K] [--strategy S] [--min-part BYTES]
     [--data-dir D] [--blob-base URL] [--auth-status N] [--fault F] [--fault-every N] [--put-fault F]
     [--port-file F] [--secret S]: prints one line {"endpoint": "http://127.0.0.1:PORT", "port": PORT,
     "pid": PID} (also written to F) once listening; serves until SIGTERM/SIGINT, then exits 0.
     --data-dir keeps objects in DIR/objects/<r>/<v>.tar (bodies streamed to disk, sent with sendfile).
     BENTOCLOUD_SIM_DEBUG=1 logs requests to stderr.
IN-PROCESS  sim = BentoCloudSim(host="127.0.0.1", port=0, data_dir=None, env=None (os.environ),
     secret=None, **settings); url = sim.start(); configure(**settings), config(), stats(), reset(data),
     state(), log(since), tar_members(r, v), add_model(r, v, data | path=, build_at=, labels=, manifest=),
     presign(method, r, v, **query), stop(); `with BentoCloudSim() as sim:` also works.
"""

import argparse
import datetime
import hmac
import json
import os
import re
import secrets
import signal
import sys
import threading
import types
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bentocloud_store import (CHUNK, BlobHandler, BlobStore, IncompleteBody, NotFound, Recorder,  # noqa: E402
                              Registry, S3Front, StoreError, TrackingServer, now, tar_members)

MiB = 1 << 20
NAME_RE = re.compile(r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$")
BUILD_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
BUILD_AT_FMT = "%Y-%m-%d %H:%M:%S.%f"
UTC = datetime.timezone.utc
STRATEGIES = ("presigned_url", "multipart", "proxy", "legacy_proxy")
TRANSMISSION = {"presigned_url": None, "multipart": "presigned_url", "proxy": "proxy", "legacy_proxy": None}
GET_FAULTS = ("reset", "500", "429", "truncate", "corrupt", "slow")
PUT_FAULTS = ("reset", "500", "503")
CREATE_MODEL_KEYS = ("description", "version", "manifest", "build_at", "labels")
MANIFEST_KEYS = ("module", "api_version", "bentoml_version", "size_bytes", "metadata", "context", "options")
_R, _V = r"/api/v1/model_repositories/(?P<repo>[^/]+)", r"/models/(?P<version>[^/]+)"
ROUTES = [(m, re.compile("^%s$" % p), n) for m, p, n in (
    ("GET", "/api/v1/auth/current", "auth_current"), ("GET", "/api/v1/current_org", "current_org"),
    ("GET", "/api/v1/model_repositories", "list_repositories"),
    ("POST", "/api/v1/model_repositories", "create_repository"), ("GET", _R, "get_repository"),
    ("GET", _R + "/models", "list_models"), ("POST", _R + "/models", "create_model"),
    ("GET", _R + _V, "get_model"), ("PATCH", _R + _V + "/presign_upload_url", "presign_upload_url"),
    ("PATCH", _R + _V + "/presign_download_url", "presign_download_url"),
    ("PATCH", _R + _V + "/start_upload", "start_upload"), ("PATCH", _R + _V + "/finish_upload", "finish_upload"),
    ("PATCH", _R + _V + "/start_multipart_upload", "start_multipart_upload"),
    ("PATCH", _R + _V + "/presign_multipart_upload_url", "presign_multipart_upload_url"),
    ("PATCH", _R + _V + "/complete_multipart_upload", "complete_multipart_upload"),
    ("PUT", _R + _V + "/upload", "proxy_upload"), ("GET", _R + _V + "/download", "proxy_download"),
    ("GET", "/api/v1/models", "list_all_models"))]


def rfc3339nano(dt):
    """Go's RFC3339Nano in UTC: fraction without trailing zeros, none at all when zero."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    frac = ("%06d" % dt.microsecond).rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ("." + frac if frac else "") + "Z"


def _int(value, lo=None, hi=None, what="value"):
    if isinstance(value, bool) or not re.fullmatch(r"\s*-?\d+\s*", str(value)):
        raise ValueError("%s must be an integer, not %r" % (what, value))
    n = int(value)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise ValueError("%s %d is out of range" % (what, n))
    return n


def _float(value, what="value"):
    n = float(value)
    if n < 0:
        raise ValueError("%s must be >= 0" % what)
    return n


def _choice(choices, allow_none=False):
    def parse(value):
        v = str(value).strip().lower()
        if allow_none and v in ("", "none", "off", "no"):
            return None
        if v not in choices:
            raise ValueError("%r is not one of %s" % (value, ", ".join(choices)))
        return v
    return parse


SETTINGS = {
    "api_key": str, "strategy": _choice(STRATEGIES), "min_part": lambda v: _int(v, 0, what="min_part"),
    "auth_status": lambda v: _int(v, 100, 599, "auth_status"), "fault": _choice(GET_FAULTS, True),
    "fault_every": lambda v: _int(v, 1, what="fault_every"), "put_fault": _choice(PUT_FAULTS, True),
    "url_expires": lambda v: _int(v, what="url_expires"), "slow_delay": lambda v: _float(v, "slow_delay"),
    "slow_rate": lambda v: _int(v, 0, what="slow_rate"), "blob_base": lambda v: str(v or "").rstrip("/") or None}
DEFAULTS = {"api_key": "bentocloud-sim-token", "strategy": "presigned_url", "min_part": 5 * MiB,
            "auth_status": 401, "fault": None, "fault_every": 1, "put_fault": None, "url_expires": 3600,
            "slow_delay": 1.0, "slow_rate": MiB, "blob_base": None}
ENV = {"api_key": "BENTOCLOUD_API_KEY", "strategy": "BENTOCLOUD_STRATEGY", "min_part": "BENTOCLOUD_MIN_PART",
       "auth_status": "BENTOCLOUD_AUTH_STATUS", "fault": "BENTOCLOUD_FAULT", "fault_every": "BENTOCLOUD_FAULT_EVERY",
       "put_fault": "BENTOCLOUD_PUT_FAULT", "blob_base": "BENTOCLOUD_BLOB_BASE"}


def _truthy(v):
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


class _Handler(BlobHandler):
    server_version = "bentocloud-sim/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        if os.environ.get("BENTOCLOUD_SIM_DEBUG"):
            sys.stderr.write("bentocloud_sim: %s\n" % (fmt % args))

    def do_GET(self):
        self.begin()
        self.server.sim._dispatch(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def read_body(self, limit=64 * MiB):
        out = bytearray()
        for data in self.iter_body():
            out += data
            if len(out) > limit:
                raise ApiError(413, "request body too large")
        return bytes(out)


class BentoCloudSim(S3Front):
    """The simulator; see the module docstring. start() binds and returns the endpoint URL."""

    def __init__(self, host="127.0.0.1", port=0, *, data_dir=None, env=None, secret=None, **settings):
        self.host, self._port = host, port
        self.secret = (secret or secrets.token_hex(32)).encode()
        self.store = BlobStore(data_dir)
        self._lock = threading.RLock()
        self._server = self._thread = None
        self.reg, self.rec = Registry(), Recorder()
        self._fault_n = {"get": 0, "put": 0}
        self.cfg = dict(DEFAULTS)
        env = os.environ if env is None else env
        self.configure(**{k: env[v] for k, v in ENV.items() if env.get(v)})
        self.configure(**settings)

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self):
        if self._server is None:
            self._server = TrackingServer((self.host, self._port), _Handler, self, self.rec.error)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="bentocloud-sim", daemon=True)
            self._thread.start()
        return self.endpoint

    def stop(self):
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.close_connections()
            srv.server_close()
            self._thread.join(5)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1] if self._server else None

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.host, self.port) if self._server else None

    # --- settings, stats, state --------------------------------------------------------------------
    def configure(self, **settings):
        new = {}
        for k, v in settings.items():
            if k not in SETTINGS:
                raise ValueError("unknown setting %r (known: %s)" % (k, ", ".join(SETTINGS)))
            new[k] = SETTINGS[k](v)
        with self._lock:
            self.cfg.update(new)
            if {"fault", "put_fault", "fault_every"} & new.keys():
                self._fault_n = {"get": 0, "put": 0}
        return self.config()

    def config(self):
        with self._lock:
            return dict(self.cfg)

    def reset(self, data=False):
        """Zeroes the stats, the log and the fault counters; data=True also drops every record and object."""
        self.rec.reset()
        with self._lock:
            self._fault_n = {"get": 0, "put": 0}
            if data:
                self.reg = Registry()
                self.store.clear()

    def stats(self):
        return self.rec.stats()

    def log(self, since=0):
        return self.rec.log(since)

    def state(self):
        with self._lock:
            repos = {name: {"uid": r.uid, "created_at": rfc3339nano(r.created_at), "description": r.description,
                            "models": {v: dict(self._model_json(m), object=self._object_info(m))
                                       for v, m in r.models.items()}} for name, r in self.reg.repos.items()}
        return {"endpoint": self.endpoint, "config": self.config(), "repositories": repos,
                "multipart_uploads": self.store.uploads()}

    def _object_info(self, m):
        blob = self.store.get((m.repo, m.version))
        return blob.info() if blob else None

    def tar_members(self, repo, version):
        blob = self.store.get((repo, version))
        if blob is None:
            raise LookupError("no object stored for %s:%s" % (repo, version))
        return {"repo": repo, "version": version, "size": blob.size, "etag": blob.etag,
                "members": tar_members(blob)}

    def _take_fault(self, kind):
        """The fault to inject into this GET/PUT ("get"/"put"), or None."""
        with self._lock:
            fault = self.cfg["fault" if kind == "get" else "put_fault"]
            if not fault:
                return None
            self._fault_n[kind] += 1
            if self._fault_n[kind] % self.cfg["fault_every"]:
                return None
        self.rec.tally("faults", kind, fault)
        return fault

    # --- schemas -----------------------------------------------------------------------------------
    def _resource(self, rec, rtype):
        return {"uid": rec.uid, "created_at": rfc3339nano(rec.created_at), "updated_at": rfc3339nano(rec.updated_at),
                "deleted_at": None, "name": rec.name, "resource_type": rtype, "labels": list(rec.labels)}

    _T0 = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    _USER = types.SimpleNamespace(uid="00000000-0000-4000-8000-000000000001", created_at=_T0, updated_at=_T0,
                                  name="sim-user", labels=[])
    _ORG = types.SimpleNamespace(uid="00000000-0000-4000-8000-000000000002", created_at=_T0, updated_at=_T0,
                                 name="sim-org", labels=[])

    def _user(self):
        return dict(self._resource(self._USER, "user"), first_name="Sim", last_name="User", avatar_url="",
                    email="sim-user@bentocloud-sim.invalid")

    def _org(self):
        return dict(self._resource(self._ORG, "organization"), description="BentoCloud simulator organization")

    def _model_json(self, m, **extra):
        d = self._resource(m, "model")
        d.update(description=m.description, version=m.version, image_build_status="pending",
                 upload_status=m.upload_status, upload_finished_reason=m.reason, presigned_upload_url="",
                 presigned_download_url="", manifest=m.manifest,
                 transmission_strategy=TRANSMISSION[self.cfg["strategy"]],
                 upload_id=m.upload_id, upload_started_at=rfc3339nano(m.upload_started_at),
                 upload_finished_at=rfc3339nano(m.upload_finished_at), build_at=rfc3339nano(m.build_at),
                 model_uid=self.reg.repos[m.repo].uid, creator=self._user(), presigned_urls_deprecated=False)
        d.update(extra)
        return d

    def _repo_json(self, r):
        latest = self.reg.latest(r)
        return dict(self._resource(r, "model_repository"), description=r.description, creator=self._user(),
                    latest_model=self._model_json(latest) if latest else None, organization=self._org())

    # --- request dispatch --------------------------------------------------------------------------
    def _dispatch(self, h):
        path = h.url.path
        if path.startswith("/_") and not path.startswith("/_blob/"):
            return self._control(h, path)
        h.route, h.on_answer = self._route_name(h, path), lambda: self.rec.request(h)
        try:
            if path.startswith("/_blob/"):
                self._serve_blob(h, h.route)
            else:
                self._serve_api(h, h.route)
        except (ApiError, NotFound) as e:
            if h.status is None:
                h.send_json(getattr(e, "status", 404), {"error": str(e)})
        except StoreError as e:
            if h.status is None:
                h.send_s3_error(e.status, e.code, e.message)
        except (IncompleteBody, OSError):
            h.close_connection = True
        except Exception as e:
            self.rec.error("%s %s: %r" % (h.command, h.path, e))
            if h.status is None:
                h.send_json(500, {"error": "simulator error: %r" % e})
            h.close_connection = True
        finally:
            self.rec.request_done(h)

    @staticmethod
    def _route_name(h, path):
        if path.startswith("/_blob/"):
            route = {"GET": "blob_get", "HEAD": "blob_head", "PUT": "blob_put"}.get(h.command, "blob_other")
            return "blob_part_put" if route == "blob_put" and "partNumber" in h.query else route
        return next((n for m, rx, n in ROUTES if m == h.command and rx.match(path)), None)

    def _serve_api(self, h, route):
        self.rec.count(route or "unknown")
        if route is None:
            return h.send_json(404, {"message": "not found this router with method %s" % h.command})
        version = h.headers.get("X-Bentoml-Version")
        self.rec.tally("x_bentoml_versions", version or "")
        if version is None:
            self.rec.warn(h, "API request without X-Bentoml-Version (BentoML always sends it)")
        if not self._authorized(h):
            return
        args = next(rx.match(h.url.path) for m, rx, n in ROUTES if n == route).groupdict()
        result = getattr(self, "_api_" + route)(h, **args)
        if result is not None:
            h.send_json(200, result)

    def _authorized(self, h):
        token = h.headers.get("X-YATAI-API-TOKEN")
        if token is not None and hmac.compare_digest(token.encode(), self.cfg["api_key"].encode()):
            return True
        msg = "invalid X-YATAI-API-TOKEN" if token else "missing X-YATAI-API-TOKEN header"
        self.rec.bump("auth_failures")
        h.send_json(self.cfg["auth_status"], {"error": msg, "message": msg})
        return False

    def _json_body(self, h, keys):
        raw = h.read_body()
        try:
            body = json.loads(raw or b"null")
        except ValueError as e:
            raise ApiError(400, "bind json: %s" % e)
        if not isinstance(body, dict):
            raise ApiError(400, "bind json: the body must be a JSON object")
        missing = [k for k in keys if k not in body]
        if missing:
            self.rec.warn(h, "request body lacks %s (BentoML sends every key)" % ", ".join(missing))
        return body

    def _expect_no_body(self, h):
        if h.read_body():
            self.rec.warn(h, "PATCH with a body where BentoML sends none (Content-Length: 0)")

    @staticmethod
    def _check_name(name, what):
        if not isinstance(name, str) or len(name) > 63 or not NAME_RE.match(name):
            raise ApiError(400, "invalid %s %s: it must match %s and have at most 63 characters"
                           % (what, json.dumps(name), NAME_RE.pattern))

    def _page(self, h, items):
        try:
            start = _int(h.query.get("start", 0), 0, what="start")
            count = None if "count" not in h.query else _int(h.query["count"], 0, what="count")
        except ValueError as e:
            raise ApiError(400, str(e))
        sel = items[start:] if count is None else items[start:start + count]
        return {"total": len(items), "start": start, "count": len(sel) if count is None else count, "items": sel}

    # --- API routes --------------------------------------------------------------------------------
    def _api_auth_current(self, h):
        return self._user()

    def _api_current_org(self, h):
        return self._org()

    def _api_list_repositories(self, h):
        with self._lock:
            return self._page(h, [self._repo_json(r) for r in sorted(self.reg.repos.values(), key=lambda r: -r.id)])

    def _api_get_repository(self, h, repo):
        with self._lock:
            return self._repo_json(self.reg.repo(repo))

    def _api_create_repository(self, h):
        body = self._json_body(h, ("name", "description"))
        self._check_name(body.get("name"), "model repository name")
        with self._lock:
            if body["name"] in self.reg.repos:
                raise ApiError(400, "model repository %s already exists" % json.dumps(body["name"]))
            return self._repo_json(self.reg.new_repo(body["name"], str(body.get("description") or "")))

    def _api_create_model(self, h, repo):
        body = self._json_body(h, CREATE_MODEL_KEYS)
        with self._lock:
            self.reg.repo(repo)
        self._check_name(body.get("version"), "model version")
        build_at = self._parse_build_at(h, body.get("build_at"))
        manifest, labels = self._manifest(h, body.get("manifest")), self._labels(body.get("labels"))
        with self._lock:
            r = self.reg.repo(repo)
            if body["version"] in r.models:
                raise ApiError(400, "model %s:%s already exists" % (repo, body["version"]))
            m = self.reg.new_model(r, body["version"], str(body.get("description") or ""), manifest, labels, build_at)
            self.rec.event((repo, m.version), "create_model")
            return self._model_json(m)

    def _parse_build_at(self, h, value):
        if isinstance(value, str) and BUILD_AT_RE.match(value):
            try:
                return datetime.datetime.strptime(value, BUILD_AT_FMT).replace(tzinfo=UTC)
            except ValueError:
                pass
        self.rec.warn(h, "build_at %s is not \"YYYY-MM-DD HH:MM:SS.ffffff\" (Yatai answers 400)" % json.dumps(value))
        raise ApiError(400, "parse build at: parsing time %s as \"2006-01-02 15:04:05.000000\": cannot parse"
                       % json.dumps(value))

    def _manifest(self, h, man):
        if not isinstance(man, dict):
            raise ApiError(400, "bind json: manifest must be an object")
        missing = [k for k in MANIFEST_KEYS if k not in man]
        if missing:
            self.rec.warn(h, "manifest lacks %s (BentoML sends every key)" % ", ".join(missing))
        man = dict(man)
        for k in ("metadata", "context", "options"):
            if k in man and man[k] is None:
                self.rec.warn(h, "manifest.%s is null; BentoML's decoder breaks on null (stored as {})" % k)
            if not isinstance(man.get(k), dict):
                man[k] = {}
        if not isinstance(man.setdefault("size_bytes", 0), int):
            raise ApiError(400, "bind json: manifest.size_bytes must be an integer")
        for k, default in (("module", ""), ("api_version", "v1"), ("bentoml_version", "")):
            man.setdefault(k, default)
        return man

    @staticmethod
    def _labels(labels):
        if labels is None:
            return []
        if not isinstance(labels, list) or not all(isinstance(x, dict) and isinstance(x.get("key"), str)
                                                   and isinstance(x.get("value", ""), str) for x in labels):
            raise ApiError(400, "bind json: labels must be [{key, value}]")
        return [{"key": x["key"], "value": x.get("value", "")} for x in labels]

    def _api_get_model(self, h, repo, version):
        with self._lock:
            m = self.reg.model(repo, version)
            return self._model_json(m, repository=self._repo_json(self.reg.repos[repo]), bentos=[])

    def _api_list_models(self, h, repo):
        with self._lock:
            return self._page(h, [self._model_json(m) for m in self.reg.repo_models(repo)])

    def _api_list_all_models(self, h):
        with self._lock:
            return self._page(h, [self._model_json(m, repository=self._repo_json(self.reg.repos[m.repo]))
                                  for m in self.reg.all_models(h.query.get("q", ""))])

    def _gives_urls(self, h):
        strategy, version = self.cfg["strategy"], h.headers.get("X-Bentoml-Version")
        if strategy == "legacy_proxy":
            return False
        return strategy != "proxy" or not version or _version_tuple(version) > (1, 0, 5)

    def _presign_route(self, h, repo, version, method, field):
        self._expect_no_body(h)
        with self._lock:
            m = self.reg.model(repo, version)
            gives = self._gives_urls(h)
            event = field.replace("presigned", "presign") + ("" if gives else " (none)")
            self.rec.event((repo, version), event)
            url = self.presign(method, repo, version) if gives else ""
            return self._model_json(m, **{field: url, "presigned_urls_deprecated": not gives})

    def _api_presign_upload_url(self, h, repo, version):
        return self._presign_route(h, repo, version, "PUT", "presigned_upload_url")

    def _api_presign_download_url(self, h, repo, version):
        return self._presign_route(h, repo, version, "GET", "presigned_download_url")

    def _api_start_upload(self, h, repo, version):
        self._expect_no_body(h)
        with self._lock:
            m = self.reg.model(repo, version)
            m.upload_status, m.upload_started_at, m.upload_finished_at = "uploading", now(), None
            m.proxy_upload, m.updated_at = False, now()
            self.rec.event((repo, version), "start_upload")
            return self._model_json(m)

    def _api_finish_upload(self, h, repo, version):
        body = self._json_body(h, ("status", "reason"))
        status = body.get("status")
        if status not in ("pending", "uploading", "success", "failed"):
            raise ApiError(400, "invalid upload status %s" % json.dumps(status))
        with self._lock:
            m = self.reg.model(repo, version)
        if m.proxy_upload:
            self.rec.warn(h, "finish_upload after a proxy upload (BentoML sends none; the server finishes it)")
        elif m.upload_status != "uploading":
            self.rec.warn(h, "finish_upload without start_upload (upload_status was %s)" % m.upload_status)
        if status not in ("success", "failed"):
            self.rec.warn(h, "finish_upload with status %s (BentoML sends success or failed)" % status)
        if status == "success" and self.store.get((repo, version)) is None:
            self.rec.warn(h, "finish_upload success but no object was stored for %s:%s" % (repo, version))
        with self._lock:
            m.upload_status, m.reason = status, str(body.get("reason") or "")
            m.upload_finished_at = m.updated_at = now()
            self.rec.event((repo, version), "finish_upload:%s" % status)
            return self._model_json(m)

    def _api_start_multipart_upload(self, h, repo, version):
        self._expect_no_body(h)
        with self._lock:
            m = self.reg.model(repo, version)
            m.upload_id = self.store.start_multipart((repo, version))
            self.rec.event((repo, version), "start_multipart_upload")
            return self._model_json(m)

    def _api_presign_multipart_upload_url(self, h, repo, version):
        body = self._json_body(h, ("upload_id", "part_number"))
        upload_id, number = body.get("upload_id"), body.get("part_number")
        if not isinstance(upload_id, str) or not upload_id or isinstance(number, bool) or not isinstance(number, int) \
                or not 1 <= number <= 10000:
            raise ApiError(400, "presign multipart upload url: need upload_id and part_number 1..10000")
        with self._lock:
            m = self.reg.model(repo, version)
            url = self.presign("PUT", repo, version, partNumber=str(number), uploadId=upload_id)
            self.rec.event((repo, version), "presign_multipart_upload_url:%d" % number)
            return self._model_json(m, presigned_upload_url=url, upload_id=upload_id)

    def _api_complete_multipart_upload(self, h, repo, version):
        body = self._json_body(h, ("parts", "upload_id"))
        with self._lock:
            m = self.reg.model(repo, version)
        try:
            pairs = [(_int(p["part_number"], 1, 10000, "part_number"), str(p["etag"])) for p in body.get("parts")]
        except (KeyError, TypeError, ValueError) as e:
            raise ApiError(400, "failed to complete multipart upload: bad parts: %s" % e)
        upload_id = body.get("upload_id")
        upload = self.store.upload(upload_id) if isinstance(upload_id, str) else None
        try:
            if upload is None or upload.key != (repo, version):
                raise StoreError("NoSuchUpload", "The specified upload does not exist.", 404)
            blob = self.store.complete_multipart(upload_id, pairs, self.cfg["min_part"])
        except StoreError as e:
            raise ApiError(400, "failed to complete multipart upload: %s: %s" % (e.code, e.message))
        self._stored(h, (repo, version), blob, "complete_multipart_upload:%d parts" % len(pairs))
        with self._lock:
            m.updated_at = now()
            return self._model_json(m)

    def _api_proxy_upload(self, h, repo, version):
        with self._lock:
            m = self.reg.model(repo, version)
        if h.chunked or h.length is None:
            self.rec.warn(h, "proxy upload without Content-Length (BentoML always sends one)")
        fault = self._take_fault("put")
        if fault:
            return self._put_fault(h, fault, xml=False)
        with self._lock:
            m.upload_status, m.proxy_upload = "uploading", True
            m.upload_started_at = m.upload_started_at or now()
        blob = self._receive(h, (repo, version), "proxy_puts")
        with self._lock:
            m.upload_status, m.reason = ("success", "") if blob else ("failed", "the upload body ended early")
            m.upload_finished_at = m.updated_at = now()
        if blob:
            self._stored(h, (repo, version), self.store.put((repo, version), blob), "proxy_upload")
            h.send(200)

    def _api_proxy_download(self, h, repo, version):
        with self._lock:
            self.reg.model(repo, version)
        blob = self.store.get((repo, version))
        if blob is None:
            raise ApiError(500, "get object models/sim-org/%s/%s.tar.gz: NoSuchKey: The specified key does not "
                           "exist." % (repo, version))
        self.rec.blob((repo, version), "proxy_gets")
        self.rec.event((repo, version), "proxy_download")
        self._send_blob(h, (repo, version), blob, 200, 0, blob.size, (), self._take_fault("get"), xml=False)

    # --- control endpoints -------------------------------------------------------------------------
    def _control(self, h, path):
        parts = [urllib.parse.unquote(p) for p in path[2:].split("/") if p]
        name = parts[0] if parts else ""
        try:
            if name == "seed" and len(parts) == 3 and h.command in ("PUT", "POST"):
                return h.send_json(200, self._control_seed(h, parts[1], parts[2]))
            params = dict(h.query)
            body = h.read_body()
            if body.strip():
                params.update(json.loads(body))
            obj = self._control_answer(name, parts, params)
        except LookupError as e:
            return h.send_json(404, {"error": str(e).strip("'\"")})
        except (ValueError, TypeError, ApiError, IncompleteBody) as e:
            return h.send_json(400, {"error": str(e)})
        if obj is None:
            return h.send_json(404, {"message": "no control endpoint %s" % path})
        h.send_json(200, obj)

    def _control_answer(self, name, parts, params):
        if name == "health":
            return {"ok": True}
        if name == "stats":
            return self.stats()
        if name == "reset":
            self.reset(data=_truthy(params.get("data", "0")))
            return {"ok": True}
        if name == "state":
            return self.state()
        if name == "log":
            return self.log(_int(params.get("since", 0), what="since"))
        if name == "tar" and len(parts) == 3:
            return self.tar_members(parts[1], parts[2])
        if name == "config":
            return self.configure(**params)
        return None

    def _control_seed(self, h, repo, version):
        w = self.store.writer()
        for data in h.iter_body():
            w.write(data)
        labels = [dict(zip(("key", "value"), kv.split("=", 1) + [""]))
                  for kv in h.query.get("labels", "").split(",") if kv]
        return self._seed(repo, version, w.finish(), h.query.get("build_at"), labels,
                          {"module": h.query["module"]} if "module" in h.query else None)

    def add_model(self, repo, version, data=b"", *, path=None, build_at=None, labels=(), manifest=None,
                  description=""):
        """Stores a model as if BentoML had pushed it (upload_status success); returns its ModelSchema.
        build_at: datetime or "YYYY-MM-DD HH:MM:SS.ffffff" / ISO string (default now); data or path."""
        w = self.store.writer()
        if path is not None:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    w.write(chunk)
        else:
            w.write(bytes(data))
        return self._seed(repo, version, w.finish(), build_at, list(labels), manifest, description)

    def _seed(self, repo, version, blob, build_at, labels, manifest, description=""):
        for name, what in ((repo, "model repository name"), (version, "model version")):
            try:
                self._check_name(name, what)
            except ApiError as e:
                raise ValueError(e.message)
        if isinstance(build_at, str):
            build_at = datetime.datetime.fromisoformat(build_at.replace(" ", "T").replace("Z", "+00:00"))
        build_at = build_at or now()
        if build_at.tzinfo is None:
            build_at = build_at.replace(tzinfo=UTC)
        try:
            size = sum(m["size"] for m in tar_members(blob))
        except ValueError:
            size = blob.size
        man = dict({"module": "", "api_version": "v1", "bentoml_version": "1.3.0", "size_bytes": size,
                    "metadata": {}, "context": {}, "options": {}}, **(manifest or {}))
        with self._lock:
            r = self.reg.repos.get(repo) or self.reg.new_repo(repo, "")
            if version in r.models:
                raise ValueError("model %s:%s already exists" % (repo, version))
            m = self.reg.new_model(r, version, description, man, labels, build_at)
            m.upload_status, m.upload_started_at = "success", now()
            m.upload_finished_at = m.upload_started_at
            self.store.put((repo, version), blob)
            return self._model_json(m)


def main(argv=None):
    ap = argparse.ArgumentParser(description="BentoCloud model-registry simulator for modelfs tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: ephemeral")
    ap.add_argument("--api-key", help="the valid X-YATAI-API-TOKEN (env BENTOCLOUD_API_KEY)")
    ap.add_argument("--strategy", choices=STRATEGIES, help="env BENTOCLOUD_STRATEGY; default presigned_url")
    ap.add_argument("--min-part", type=int, help="multipart minimum part size in bytes (default 5 MiB)")
    ap.add_argument("--data-dir", help="keep objects in files under this directory instead of memory")
    ap.add_argument("--blob-base", help="base URL of presigned URLs (default: this server)")
    ap.add_argument("--auth-status", type=int, help="status for a bad token (default 401)")
    ap.add_argument("--fault", help="|".join(GET_FAULTS))
    ap.add_argument("--fault-every", type=int)
    ap.add_argument("--put-fault", help="|".join(PUT_FAULTS))
    ap.add_argument("--port-file", help="also write the ready line here (atomically)")
    ap.add_argument("--secret", help="URL signing secret (default: random per run)")
    args = ap.parse_args(argv)
    settings = {k: getattr(args, k) for k in ("api_key", "strategy", "min_part", "blob_base", "auth_status",
                                              "fault", "fault_every", "put_fault") if getattr(args, k) is not None}
    try:
        sim = BentoCloudSim(args.host, args.port, data_dir=args.data_dir, secret=args.secret, **settings)
    except ValueError as e:
        ap.error(str(e))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    sim.start()
    line = json.dumps({"endpoint": sim.endpoint, "port": sim.port, "pid": os.getpid()})
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, args.port_file)
    print(line, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
