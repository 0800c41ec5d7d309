"""tests/sims/sigv4_proxy.py — a reverse proxy that makes s3rver answer like
AWS S3 where modelfs depends on it.

s3rver 3.7.1 accepts any well-formed AWS Signature Version 4 (it only checks
that the access key exists), and has neither AbortMultipartUpload nor
ListMultipartUploads. In front of it, this proxy:

  * verifies every signed request as S3 does (canonical URI, sorted and
    encoded query, signed headers, x-amz-content-sha256 as the payload hash)
    and answers 403 SignatureDoesNotMatch or InvalidAccessKeyId itself;
  * implements AbortMultipartUpload (DELETE ?uploadId=) and
    ListMultipartUploads (GET /bucket?uploads=) on s3rver's data directory;
  * injects faults for retry tests: POST /_sim/faults with a JSON list of
    {"method", "path_contains", "query_contains", "status", "times"} makes
    the next `times` matching requests fail with `status` (an S3 XML error);
    POST /_sim/faults with [] clears them. GET /_sim/requests lists
    "METHOD path?query" of every request proxied so far.

Everything else is streamed to s3rver and back unchanged.
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import threading
import urllib.parse
from xml.sax.saxutils import escape

UPLOADS_DIR = "._S3rver_uploads"  # where s3rver keeps a bucket's multipart uploads
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "proxy-connection"}
CHUNK = 1 << 20


def _encode(text):
    return urllib.parse.quote(text, safe="-_.~")


def canonical_uri(raw_path):
    return "/".join(_encode(urllib.parse.unquote(s)) for s in raw_path.split("/"))


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((_encode(urllib.parse.unquote(name)), _encode(urllib.parse.unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(secret, method, raw_path, raw_query, headers, authorization):
    """The SigV4 signature S3 would compute, or raises ValueError if malformed."""
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise ValueError("unsupported algorithm")
    fields = dict(f.strip().split("=", 1) for f in rest.split(","))
    scope = fields["Credential"].split("/")[1:]
    signed = fields["SignedHeaders"].split(";")
    if len(scope) != 4 or "host" not in signed:
        raise ValueError("malformed credential scope or signed headers")
    canonical_headers = "".join(f"{h}:{' '.join((headers.get(h) or '').split())}\n" for h in signed)
    payload_hash = headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise ValueError("missing x-amz-content-sha256")
    request = "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                         canonical_headers, ";".join(signed), payload_hash])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers.get("x-amz-date", ""), "/".join(scope),
                         hashlib.sha256(request.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), fields["Signature"]


def access_key_of(authorization):
    for field in authorization.partition(" ")[2].split(","):
        name, _, value = field.strip().partition("=")
        if name == "Credential":
            return value.split("/")[0]
    return None


class Proxy:
    """Listens on 127.0.0.1 (ephemeral port) and forwards to s3rver at `upstream_port`."""

    def __init__(self, upstream_port, data_dir, credentials, verify_signatures=True):
        self.upstream_port = upstream_port
        self.data_dir = data_dir
        self.credentials = dict(credentials)
        self.verify_signatures = verify_signatures
        self.faults = []
        self.requests = []
        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def take_fault(self, method, path, query):
        with self.lock:
            for fault in self.faults:
                if fault.get("method", method) == method and \
                        fault.get("path_contains", "") in path and \
                        fault.get("query_contains", "") in query and fault.get("times", 1) > 0:
                    fault["times"] = fault.get("times", 1) - 1
                    return fault
        return None

    def _handler_class(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body_length(self):
                return int(self.headers.get("Content-Length") or 0)

            def _drain(self):
                left = self._body_length()
                while left > 0:
                    left -= len(self.rfile.read(min(left, CHUNK)))

            def _reply(self, status, body=b"", content_type="application/xml"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status, code, message):
                self._drain()
                body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                        '<Message>%s</Message><RequestId>sim</RequestId></Error>'
                        % (escape(code), escape(message))).encode()
                self._reply(status, body)

            def _handle(self):
                raw_path, _, raw_query = self.path.partition("?")
                if raw_path.startswith("/_sim/"):
                    return self._control(raw_path)
                with proxy.lock:
                    proxy.requests.append(f"{self.command} {self.path}")
                if not self._authorized(raw_path, raw_query):
                    return
                fault = proxy.take_fault(self.command, raw_path, raw_query)
                if fault is not None:
                    return self._error(int(fault.get("status", 500)), "InternalError",
                                       "We encountered an internal error. Please try again.")
                query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
                bucket, _, key = urllib.parse.unquote(raw_path[1:]).partition("/")
                if self.command == "DELETE" and "uploadId" in query and key:
                    return self._abort_upload(bucket, query["uploadId"][0])
                if self.command == "GET" and "uploads" in query and not key:
                    return self._list_uploads(bucket, query.get("prefix", [""])[0])
                self._forward()

            def _authorized(self, raw_path, raw_query):
                authorization = self.headers.get("Authorization")
                if authorization is None or not proxy.verify_signatures:
                    return True
                secret = proxy.credentials.get(access_key_of(authorization))
                if secret is None:
                    self._error(403, "InvalidAccessKeyId",
                                "The AWS Access Key Id you provided does not exist in our records.")
                    return False
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    expected, given = expected_signature(secret, self.command, raw_path, raw_query,
                                                         headers, authorization)
                except (ValueError, KeyError) as e:
                    self._error(400, "AuthorizationHeaderMalformed", f"The authorization header is malformed: {e}.")
                    return False
                if not hmac.compare_digest(expected, given):
                    self._error(403, "SignatureDoesNotMatch",
                                "The request signature we calculated does not match the signature "
                                "you provided. Check your key and signing method.")
                    return False
                return True

            def _bucket_dir(self, bucket):
                path = os.path.join(proxy.data_dir, bucket)
                if not os.path.isdir(path):
                    self._error(404, "NoSuchBucket", "The specified bucket does not exist")
                    return None
                return path

            def _abort_upload(self, bucket, upload_id):
                bucket_dir = self._bucket_dir(bucket)
                if bucket_dir is None:
                    return
                upload_dir = os.path.join(bucket_dir, UPLOADS_DIR, os.path.basename(upload_id))
                if not os.path.isdir(upload_dir):
                    return self._error(404, "NoSuchUpload", "The specified upload does not exist.")
                shutil.rmtree(upload_dir, ignore_errors=True)
                self._drain()
                self._reply(204)

            def _list_uploads(self, bucket, prefix):
                bucket_dir = self._bucket_dir(bucket)
                if bucket_dir is None:
                    return
                root = os.path.join(bucket_dir, UPLOADS_DIR)
                entries = []
                for upload_id in sorted(os.listdir(root)) if os.path.isdir(root) else []:
                    try:
                        with open(os.path.join(root, upload_id, "key"), encoding="utf-8") as f:
                            key = f.read()
                    except OSError:
                        continue  # being completed or aborted
                    if not key.startswith(prefix):
                        continue
                    entries.append(f"<Upload><Key>{escape(key)}</Key><UploadId>{escape(upload_id)}"
                                   "</UploadId></Upload>")
                body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>'
                        f"<Bucket>{escape(bucket)}</Bucket><IsTruncated>false</IsTruncated>"
                        + "".join(entries) + "</ListMultipartUploadsResult>").encode()
                self._drain()
                self._reply(200, body)

            def _forward(self):
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    conn.putheader("Host", f"127.0.0.1:{proxy.upstream_port}")
                    for name, value in self.headers.items():
                        if name.lower() not in HOP_BY_HOP:
                            conn.putheader(name, value)
                    conn.endheaders()
                    left = self._body_length()
                    while left > 0:
                        chunk = self.rfile.read(min(left, CHUNK))
                        if not chunk:
                            raise ConnectionError("client body ended early")
                        conn.send(chunk)
                        left -= len(chunk)
                    response = conn.getresponse()
                    length = response.getheader("Content-Length")
                    body = None
                    if length is None and self.command != "HEAD":
                        body = response.read()
                        length = str(len(body))
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}:
                            self.send_header(name, value)
                    if length is not None:
                        self.send_header("Content-Length", length)
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if body is not None:
                        self.wfile.write(body)
                        return
                    while chunk := response.read(CHUNK):
                        self.wfile.write(chunk)
                finally:
                    conn.close()

            def _control(self, raw_path):
                body = self.rfile.read(self._body_length())
                if raw_path == "/_sim/faults" and self.command == "POST":
                    with proxy.lock:
                        proxy.faults = json.loads(body or b"[]")
                    return self._reply(200, b"{}", "application/json")
                if raw_path == "/_sim/requests" and self.command == "GET":
                    with proxy.lock:
                        text = json.dumps(proxy.requests).encode()
                    return self._reply(200, text, "application/json")
                self._reply(404, b"{}", "application/json")

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

        return Handler
