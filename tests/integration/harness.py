"""Shared helpers for the modelfs CLI integration tests (Python 3 standard library only).

Every test gets its own temporary directory holding a fresh store ("home") and whatever source
trees it builds; all of it is removed afterwards.  The binary under test is $MODELFS_BIN, else
<repo>/build/modelfs.

Environment knobs:
  MODELFS_BIN        path of the modelfs binary
  MODELFS_SLOW=1     also run the slow tests (100 000 files, a > 4 GiB file)
  MODELFS_TEST_TMP   parent directory for the per-test temporary directories (default: $TMPDIR)
  MODELFS_TEST_SEED  seed for the random choices of the crash/concurrency tests
"""

import errno
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _default_binary():
    """<repo>/build/modelfs; meson puts the executable under build/tools/ unless told otherwise."""
    for rel in (("build", "modelfs"), ("build", "tools", "modelfs")):
        p = os.path.join(REPO, *rel)
        if os.path.isfile(p):
            return p
    return os.path.join(REPO, "build", "modelfs")


BIN = os.environ.get("MODELFS_BIN") or _default_binary()
SLOW = os.environ.get("MODELFS_SLOW") == "1"
TMP_PARENT = os.environ.get("MODELFS_TEST_TMP") or None

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

DEFAULT_TIMEOUT = 120  # seconds for one CLI call; a hang becomes a failure, not a stuck suite

SAVED_RE = re.compile(r'^Model\(tag="([^"]+)"\) saved\.\s*$', re.M)
DELETED_RE = re.compile(r'^Model\(tag="([^"]+)"\) deleted\.\s*$', re.M)
VERSION_RE = re.compile(r"^[a-z2-7]{16}$")
TAG_PART_RE = re.compile(r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$")

# Keys of `modelfs cache stats -o json` the contract promises.
STATS_KEYS = ("models", "logical_bytes", "stored_bytes", "chunks", "packs", "pack_bytes",
              "dedup_ratio")
# model.yaml keys in BentoML's order.
MODEL_YAML_KEYS = ("name", "version", "module", "labels", "options", "metadata", "context",
                   "signatures", "api_version", "creation_time")


def seed_from_env(default=None):
    """A seed for random choices: $MODELFS_TEST_SEED, else a fresh one (printed by the caller)."""
    s = os.environ.get("MODELFS_TEST_SEED")
    if s:
        return int(s)
    return default if default is not None else random.randrange(1 << 30)


def binary_problem():
    """None when the binary is usable, else a sentence saying why not."""
    if not os.path.exists(BIN):
        return ("modelfs binary not found at %s (build it with `meson setup build && ninja -C build`,"
                " or set MODELFS_BIN)" % BIN)
    if not os.access(BIN, os.X_OK) or os.path.isdir(BIN):
        return "modelfs binary at %s is not an executable file" % BIN
    return None


slow = unittest.skipUnless(SLOW, "slow test: set MODELFS_SLOW=1 to run it")
needs_root = unittest.skipUnless(os.geteuid() == 0, "needs root")


# ----------------------------------------------------------------------------------------------
# Files and trees

def write_random(path, size, block=8 * MiB):
    """Writes `size` random bytes (os.urandom) to `path`; returns their sha256 hex."""
    h = hashlib.sha256()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            b = os.urandom(min(block, left))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path, block=4 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(block)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def make_tree(root, files=None, dirs=(), modes=None):
    """Builds a directory tree under `root`.

    files: {relpath: bytes | int}; an int means that many random bytes.
    dirs:  relpaths of (possibly empty) directories to create.
    modes: {relpath: mode} applied with chmod after writing.
    Returns `root`.
    """
    os.makedirs(root, exist_ok=True)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for rel, content in (files or {}).items():
        p = os.path.join(root, rel)
        if isinstance(content, int):
            write_random(p, content)
        else:
            write_bytes(p, content)
    for rel, mode in (modes or {}).items():
        os.chmod(os.path.join(root, rel), mode)
    return root


def make_random_tree(root, nfiles, max_size=4 * KiB, fanout=50, rng=None):
    """`nfiles` small random files spread over nested directories of at most `fanout` entries."""
    rng = rng or random.Random(1)
    os.makedirs(root, exist_ok=True)
    made_dirs = set()
    for i in range(nfiles):
        d = os.path.join(root, "d%03d" % (i // fanout // fanout), "e%03d" % ((i // fanout) % fanout))
        if d not in made_dirs:
            os.makedirs(d, exist_ok=True)
            made_dirs.add(d)
        size = rng.randrange(0, max_size + 1)
        with open(os.path.join(d, "f%06d.bin" % i), "wb") as f:
            f.write(os.urandom(size))
    return root


def manifest(root, exclude=()):
    """What a faithful copy of `root` must contain, following symlinks to regular files.

    Returns {"files": {rel: {"size", "sha256", "mode"}}, "dirs": set(rel)} with "/"-separated
    relative paths.  `exclude` lists relative paths left out (e.g. "model.yaml").
    """
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        for d in dirnames:
            rel = (rel_dir + "/" + d) if rel_dir else d
            if rel not in exclude:
                dirs.add(rel)
        for name in filenames:
            rel = (rel_dir + "/" + name) if rel_dir else name
            if rel in exclude:
                continue
            p = os.path.join(dirpath, name)
            st = os.stat(p)  # follows symlinks
            files[rel] = {"size": st.st_size, "sha256": sha256_file(p), "mode": st.st_mode}
    return {"files": files, "dirs": dirs}


def parse_mode(v):
    """A mode from `files -o json`: an int, an octal string ("0755", "0o755", "755"), or ls-style."""
    if isinstance(v, bool):
        raise ValueError("mode is a bool")
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"(0o|0)?[0-7]{1,7}", s):
            return int(s[2:] if s.startswith("0o") else s, 8)
        m = re.fullmatch(r"[-dl]?([-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT])", s)
        if m:
            bits = 0
            for i, ch in enumerate(m.group(1)):
                if ch not in "-ST":
                    bits |= 1 << (8 - i)
            return bits
    raise ValueError("cannot read a file mode from %r" % (v,))


def dir_size(path, allocated=False):
    """Sum of st_size (or allocated bytes) of the regular files under `path`."""
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for n in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_blocks * 512 if allocated else st.st_size
    return total


def rmtree_force(path):
    """rmtree that first restores permissions (tests chmod 000 directories)."""
    if not os.path.lexists(path):
        return

    def onerror(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)
        except Exception:
            pass

    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                try:
                    os.chmod(p, 0o700)
                except OSError:
                    pass
    shutil.rmtree(path, onerror=onerror)


# ----------------------------------------------------------------------------------------------
# Running the CLI

class Result:
    """Outcome of one CLI call."""

    def __init__(self, argv, rc, out, err, elapsed):
        self.argv, self.rc, self.out, self.err, self.elapsed = argv, rc, out, err, elapsed

    @property
    def text(self):
        return self.out if isinstance(self.out, str) else self.out.decode("utf-8", "replace")

    @property
    def both(self):
        return self.text + "\n" + self.err

    def describe(self):
        out = self.text
        if len(out) > 3000:
            out = out[:3000] + "...[%d chars]" % len(out)
        err = self.err if len(self.err) <= 3000 else self.err[:3000] + "...[%d chars]" % len(self.err)
        return "$ %s\n  exit %s after %.2fs\n  stdout: %s\n  stderr: %s" % (
            " ".join(self.argv), self.rc, self.elapsed, out.strip(), err.strip())


def unmount_tmpfs(mnt):
    if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def used_bytes(path):
    """Bytes in use on the file system holding `path`."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def free_bytes(path):
    """Bytes an unprivileged writer may still write on the file system holding `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def kill_group(proc):
    """SIGKILLs the process group of a Popen started with start_new_session=True."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def has_error_line(stderr):
    return any(line.startswith("Error:") for line in stderr.splitlines())


class StoreLockHolder:
    """Holds <home>/lock from this process, with both flock(2) and a POSIX record lock, so that a
    modelfs process trying to write the store finds it busy whichever lock kind it uses."""

    def __init__(self, home):
        self.path = os.path.join(home, "lock")
        self.fd = None

    def acquire(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def release(self):
        if self.fd is not None:
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_UN)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


# ----------------------------------------------------------------------------------------------
# FUSE mounts

MOUNT_WATCHDOG = 90  # seconds; a test still holding a mount after this is stuck on a hung daemon


def _unescape_mount_field(s):
    """/proc/self/mounts writes space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mount_entries():
    """[(source, mountpoint, fstype, options)] from /proc/self/mounts."""
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4:
                out.append(tuple(_unescape_mount_field(x) for x in parts[:4]))
    return out


def mount_entry(mp):
    """The last (topmost) /proc/self/mounts entry whose mount point is `mp`, else None.

    Never stats `mp` (which would hang on a hung FUSE daemon or fail on a stale mount)."""
    mp = os.path.abspath(mp)
    found = None
    for e in mount_entries():
        if e[1] == mp:
            found = e
    return found


def is_mounted(mp):
    return mount_entry(mp) is not None


def fuse_connection_ids(mp):
    """The /sys/fs/fuse/connections/<id> names of the FUSE mounts at `mp` (from mountinfo)."""
    mp = os.path.abspath(mp)
    ids = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 4 and _unescape_mount_field(parts[4]) == mp and ":" in parts[2]:
                    ids.append(parts[2].split(":")[1])
    except OSError:
        pass
    return ids


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def pid_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return False
    state = data.rsplit(")", 1)[-1].split()[0:1]
    return state != ["Z"]


def daemon_pids(home):
    """PIDs of the `modelfs ... mount ...` processes serving store `home` (pgrep -f on its path)."""
    home = os.path.abspath(home)
    try:
        r = subprocess.run(["pgrep", "-f", "--", home], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    pids = []
    for tok in r.stdout.split():
        try:
            pid = int(tok)
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        argv = _cmdline(pid)
        if not argv or "mount" not in argv:
            continue
        if home in argv or ("--home=" + home) in argv:
            if pid_alive(pid):
                pids.append(pid)
    return pids


def wait_pids_gone(pids, timeout):
    """Waits until none of `pids` is alive; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if pid_alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def poll(predicate, timeout=1.0, interval=0.05):
    """Calls `predicate` every `interval` seconds until it returns true or `timeout` passes.

    Returns (value, seconds waited); the predicate is always called once more at the deadline."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        v = predicate()
        now = time.monotonic()
        if v or now >= deadline:
            return v, now - t0
        time.sleep(min(interval, max(0.0, deadline - now)))


def errno_of(fn, *args, **kw):
    """Calls fn; returns the errno of the OSError it raised, or None when it succeeded."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


class ModelfsTestCase(unittest.TestCase):
    """Base class: a temporary directory with a fresh store per test, and CLI helpers."""

    maxDiff = 4000

    def setUp(self):
        problem = binary_problem()
        if problem:
            self.fail(problem)
        self.tmp = tempfile.mkdtemp(prefix="modelfs-it-", dir=TMP_PARENT)
        self.addCleanup(rmtree_force, self.tmp)
        self.home = os.path.join(self.tmp, "home")
        self.user_home = os.path.join(self.tmp, "user")
        os.makedirs(self.user_home)
        env = dict(os.environ)
        for k in ("MODELFS_HOME", "MODELFS_LOCK_TIMEOUT_MS", "XDG_DATA_HOME", "HF_HOME"):
            env.pop(k, None)
        env["HOME"] = self.user_home  # never touch the real ~/.local/share/modelfs
        env["HF_HUB_OFFLINE"] = "1"
        self.env = env
        self._procs = []
        self.addCleanup(self._reap)

    def _reap(self):
        for p in self._procs:
            if p.poll() is None:
                kill_group(p)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass

    # paths -------------------------------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def mount_tmpfs(self, name, size):
        """A tmpfs of `size` (e.g. "64m") mounted at path(name), unmounted at cleanup (before the
        test directory goes: cleanups run last-registered first); skips the test where it cannot
        be mounted (needs root)."""
        mnt = self.path(name)
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.strip())
        self.addCleanup(unmount_tmpfs, mnt)
        return mnt

    def packs_dir(self, home=None):
        return os.path.join(home or self.home, "packs")

    def pack_files(self, home=None):
        d = self.packs_dir(home)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".pack"))

    def pack_disk_bytes(self, home=None):
        return sum(os.path.getsize(p) for p in self.pack_files(home))

    # running -----------------------------------------------------------------------------------
    def run_cmd(self, argv, env_extra=None, timeout=DEFAULT_TIMEOUT, binary=False,
                stdin=subprocess.DEVNULL, cwd=None):
        env = dict(self.env)
        env.update(env_extra or {})
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, start_new_session=True, cwd=cwd)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(p)
            out, err = p.communicate()
            self.fail("timed out after %ss (hang?): %s\nstderr: %s" % (
                timeout, " ".join(argv), err.decode("utf-8", "replace")[-2000:]))
        elapsed = time.monotonic() - t0
        if not binary:
            out = out.decode("utf-8", "surrogateescape")
        return Result([str(a) for a in argv], p.returncode, out,
                      err.decode("utf-8", "replace"), elapsed)

    def mf(self, *args, home=None, **kw):
        """Runs `modelfs --home HOME args...` and returns a Result (no assertion)."""
        return self.run_cmd([BIN, "--home", home or self.home] + [str(a) for a in args], **kw)

    def popen(self, *args, home=None, env_extra=None, stdout=subprocess.DEVNULL, stderr=None):
        """Starts `modelfs --home HOME args...` in its own process group; killed at cleanup."""
        env = dict(self.env)
        env.update(env_extra or {})
        p = subprocess.Popen([BIN, "--home", home or self.home] + [str(a) for a in args],
                             stdin=subprocess.DEVNULL, stdout=stdout,
                             stderr=stderr if stderr is not None else subprocess.PIPE,
                             env=env, start_new_session=True)
        self._procs.append(p)
        return p

    def ok(self, *args, **kw):
        r = self.mf(*args, **kw)
        if r.rc != 0:
            self.fail("command failed:\n" + r.describe())
        return r

    def assert_error(self, r, contains=None):
        """Exit 1, an `Error: ...` line on stderr, and optionally a word in it (case-insensitive)."""
        self.assertGreaterEqual(r.rc, 0, "killed by a signal:\n" + r.describe())
        self.assertEqual(r.rc, 1, "expected exit 1:\n" + r.describe())
        self.assertTrue(has_error_line(r.err), "expected an `Error: ...` line on stderr:\n"
                        + r.describe())
        if contains:
            words = contains if isinstance(contains, (list, tuple)) else [contains]
            low = r.err.lower()
            self.assertTrue(any(w.lower() in low for w in words),
                            "expected %r in the error message:\n%s" % (words, r.describe()))

    def fails(self, *args, contains=None, **kw):
        r = self.mf(*args, **kw)
        self.assert_error(r, contains)
        return r

    # store operations --------------------------------------------------------------------------
    def save(self, tag, src, *extra, home=None, **kw):
        """Saves and returns the tag the CLI reports."""
        r = self.ok("models", "save", tag, src, *extra, home=home, **kw)
        m = SAVED_RE.search(r.text)
        self.assertIsNotNone(m, 'expected `Model(tag="...") saved.` on stdout:\n' + r.describe())
        return m.group(1)

    def json_of(self, r):
        try:
            return json.loads(r.text)
        except ValueError as e:
            self.fail("output is not JSON (%s):\n%s" % (e, r.describe()))

    def list_json(self, name=None, home=None):
        args = ["models", "list"] + ([name] if name else []) + ["-o", "json"]
        data = self.json_of(self.ok(*args, home=home))
        self.assertIsInstance(data, list, "list -o json must give a JSON list")
        return data

    def tags(self, name=None, home=None):
        return [m["tag"] for m in self.list_json(name, home=home)]

    def stats(self, home=None):
        data = self.json_of(self.ok("cache", "stats", "-o", "json", home=home))
        self.assertIsInstance(data, dict)
        for k in STATS_KEYS:
            self.assertIn(k, data, "cache stats -o json lacks %r: %r" % (k, data))
        return data

    def get_json(self, tag, home=None):
        data = self.json_of(self.ok("models", "get", tag, "-o", "json", home=home))
        self.assertIsInstance(data, dict)
        return data

    def files(self, tag, home=None):
        """{path: entry} from `models files TAG -o json`, paths normalised to "a/b" form."""
        data = self.json_of(self.ok("models", "files", tag, "-o", "json", home=home))
        self.assertIsInstance(data, list, "files -o json must give a JSON list")
        result = {}
        for e in data:
            for k in ("path", "size", "mode", "type"):
                self.assertIn(k, e, "files entry lacks %r: %r" % (k, e))
            p = e["path"]
            while p.startswith("./"):
                p = p[2:]
            p = p.strip("/")
            e = dict(e)
            e["path"] = p
            e["mode"] = parse_mode(e["mode"])
            if isinstance(e["size"], str) and e["size"].isdigit():
                e["size"] = int(e["size"])
            self.assertIn(e["type"], ("file", "dir"), "files entry type: %r" % (e,))
            if e["type"] == "file":
                self.assertIn("sha256", e, "files entry lacks sha256: %r" % (e,))
            self.assertNotIn(p, result, "path listed twice: %r" % p)
            result[p] = e
        return result

    def cat(self, tag, rel, home=None):
        r = self.mf("models", "cat", tag, rel, home=home, binary=True)
        if r.rc != 0:
            self.fail("models cat failed:\n" + r.describe())
        return r.out

    def cat_sha256(self, tag, rel, home=None, timeout=600):
        """Streams `models cat` into sha256; returns (rc, hexdigest, nbytes, stderr)."""
        p = self.popen("models", "cat", tag, rel, home=home, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
        h = hashlib.sha256()
        n = 0
        deadline = time.monotonic() + timeout
        while True:
            b = p.stdout.read(4 * MiB)
            if not b:
                break
            h.update(b)
            n += len(b)
            if time.monotonic() > deadline:
                kill_group(p)
                self.fail("models cat %s %s took longer than %ss" % (tag, rel, timeout))
        err = p.stderr.read().decode("utf-8", "replace")
        p.wait()
        p.stdout.close()
        p.stderr.close()
        return p.returncode, h.hexdigest(), n, err

    def verify(self, *args, home=None):
        return self.mf("verify", *args, home=home, timeout=600)

    def assert_verify_ok(self, *args, home=None):
        r = self.verify(*args, home=home)
        self.assertEqual(r.rc, 0, "verify should pass:\n" + r.describe())
        return r

    def state(self, home=None):
        """What "store unchanged" compares: list -o json and the stats counters."""
        st = self.stats(home=home)
        return {"list": sorted(self.list_json(home=home), key=lambda m: m["tag"]),
                "stats": {k: st[k] for k in STATS_KEYS}}

    def assert_state_unchanged(self, before, home=None, what=""):
        after = self.state(home=home)
        self.assertEqual(before["list"], after["list"], "model list changed %s" % what)
        self.assertEqual(before["stats"], after["stats"], "cache stats changed %s" % what)

    def assert_model_matches(self, tag, src_manifest, read_back=False, home=None):
        """The model's files equal the source: same paths, sizes, sha256, executable bits, empty dirs.

        read_back: False, True (cat every file) or an int (cat at most that many files, chosen at
        random, always including the largest).
        """
        entries = self.files(tag, home=home)
        got_files = {p: e for p, e in entries.items() if e["type"] == "file"}
        got_dirs = {p for p, e in entries.items() if e["type"] == "dir"}
        want = src_manifest["files"]
        extra = set(got_files) - set(want)
        # A generated model.yaml may be listed beside the model's own files.
        if "model.yaml" not in want:
            extra.discard("model.yaml")
        self.assertEqual(set(), set(want) - set(got_files), "%s: files missing" % tag)
        self.assertEqual(set(), extra, "%s: unexpected files" % tag)
        for p, w in want.items():
            g = got_files[p]
            self.assertEqual(w["size"], g["size"], "%s: size of %s" % (tag, p))
            self.assertEqual(w["sha256"], str(g["sha256"]).lower(), "%s: sha256 of %s" % (tag, p))
            self.assertEqual(bool(w["mode"] & 0o111), bool(g["mode"] & 0o111),
                             "%s: executable bit of %s (source %o, stored %o)" % (
                                 tag, p, w["mode"], g["mode"]))
        # Every directory of the source (in particular the empty ones) is there, and no other.
        all_src_dirs = set(src_manifest["dirs"])
        non_empty = {q.rsplit("/", 1)[0] for q in list(want) + list(all_src_dirs) if "/" in q}
        empty_dirs = all_src_dirs - non_empty
        self.assertEqual(set(), empty_dirs - got_dirs, "%s: empty directories missing" % tag)
        self.assertEqual(set(), got_dirs - all_src_dirs, "%s: unexpected directories" % tag)
        if read_back:
            paths = sorted(want)
            if read_back is not True and len(paths) > read_back:
                largest = max(paths, key=lambda q: want[q]["size"])
                paths = sorted(set(random.sample(paths, read_back - 1)) | {largest})
            for p in paths:
                rc, digest, n, err = self.cat_sha256(tag, p, home=home)
                self.assertEqual(0, rc, "%s: models cat %s failed: %s" % (tag, p, err))
                self.assertEqual(want[p]["size"], n, "%s: bytes read back from %s" % (tag, p))
                self.assertEqual(want[p]["sha256"], digest, "%s: content read back of %s" % (tag, p))

    # mounts ------------------------------------------------------------------------------------
    def mountpoint(self, name="mnt"):
        """An empty directory under the test's temporary directory."""
        mp = self.path(name)
        os.makedirs(mp, exist_ok=True)
        return mp

    def mount(self, mp=None, *opts, home=None):
        """Runs `modelfs --home HOME mount MP OPTS...`, which must succeed and leave MP mounted on
        return.  The unmount is registered as a cleanup before the command runs.  Returns MP."""
        mp = mp or self.mountpoint()
        self.add_mount_cleanup(mp, home=home)
        r = self.mf("mount", mp, *opts, home=home, timeout=30)
        if r.rc != 0:
            self.fail("mount failed:\n%s\nmount.log:\n%s" % (r.describe(),
                                                             self.mount_log(home)[-3000:]))
        self.assertTrue(is_mounted(mp), "`modelfs mount` returned 0 but %s is not in "
                        "/proc/self/mounts:\n%s" % (mp, r.describe()))
        return mp

    def mount_log(self, home=None):
        try:
            with open(os.path.join(home or self.home, "mount.log"), "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def daemon_pid(self, home=None):
        """The one daemon serving the store."""
        pids = daemon_pids(home or self.home)
        self.assertEqual(1, len(pids), "expected one mount daemon for %s, found %r" % (
            home or self.home, pids))
        return pids[0]

    def add_mount_cleanup(self, mp, home=None):
        """Registers (once per mount point and store) a cleanup that unmounts MP whatever state it
        is in and ends the store's daemon; plus a watchdog that kills the daemon if the test is
        still running after MOUNT_WATCHDOG seconds (a hung daemon would otherwise hang the test)."""
        home = home or self.home
        key = (os.path.abspath(mp), os.path.abspath(home))
        registered = self.__dict__.setdefault("_mount_cleanups", set())
        if key in registered:
            return
        registered.add(key)
        fired = []

        def watchdog():
            fired.append(time.monotonic())
            for pid in daemon_pids(home):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for cid in fuse_connection_ids(mp):
                try:
                    with open("/sys/fs/fuse/connections/%s/abort" % cid, "w") as f:
                        f.write("1")
                except OSError:
                    pass

        timer = threading.Timer(MOUNT_WATCHDOG, watchdog)
        timer.daemon = True
        timer.start()
        self.addCleanup(self._cleanup_mount, key[0], key[1], timer, fired)

    def _cleanup_mount(self, mp, home, timer, fired):
        timer.cancel()
        # Failures of `modelfs umount` here are not reported (tests that unmount check it
        # themselves); only what the fallbacks cannot undo is.
        problems = []
        if is_mounted(mp):
            try:
                self.run_cmd([BIN, "--home", home, "umount", mp], timeout=15)
            except AssertionError as e:  # run_cmd's timeout
                problems.append("modelfs umount hung at cleanup: %s" % e)
        if is_mounted(mp):
            subprocess.run(["fusermount3", "-uz", mp], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=15)
        if is_mounted(mp):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=15)
        if is_mounted(mp):
            problems.append("%s still mounted after modelfs umount, fusermount3 -uz and "
                            "umount -l" % mp)
        left = wait_pids_gone(daemon_pids(home), 3)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        left = wait_pids_gone(left, 10)
        if left:
            problems.append("daemon %r still alive after SIGKILL" % left)
        if fired:
            problems.append("the test ran for more than %ds with %s mounted: the watchdog "
                            "killed the daemon (hang?)" % (MOUNT_WATCHDOG, mp))
        if problems:
            raise AssertionError("; ".join(problems))

    def assert_errno(self, want, fn, *args, what=None, **kw):
        """fn(*args) must raise OSError with errno `want`."""
        got = errno_of(fn, *args, **kw)
        self.assertEqual(want, got, "%s: expected errno %s, got %s" % (
            what or getattr(fn, "__name__", fn), errno_name(want), errno_name(got)))


def errno_name(e):
    if e is None:
        return "success"
    return "%s(%d)" % (errno.errorcode.get(e, "?"), e)
