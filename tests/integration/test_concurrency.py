"""Several modelfs processes on one store: they wait for the lock briefly, then fail with a
clear "busy" error; nothing is ever corrupted."""

import subprocess
import threading
import time
import unittest

from harness import KiB, MiB, ModelfsTestCase, StoreLockHolder, make_tree, manifest


class ConcurrencyTest(ModelfsTestCase):

    def finish(self, p, timeout=300):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("a modelfs process hung for %ss" % timeout)
        return p.returncode, (out or b"").decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def assert_ok_or_busy(self, what, rc, err):
        if rc != 0:
            self.assertEqual(1, rc, "%s: exit %s, stderr: %s" % (what, rc, err))
            self.assertIn("busy", err.lower(), "%s failed without saying busy: %s" % (what, err))

    def test_two_saves_one_slow(self):
        slow_src = make_tree(self.path("slow"), files={"a.bin": 96 * MiB, "b.bin": 96 * MiB,
                                                       "c.json": b"{}"})
        quick_src = make_tree(self.path("quick"), files={"w.bin": 256 * KiB})
        want = {"slow:v1": manifest(slow_src), "quick:v1": manifest(quick_src)}
        self.save("warmup:v1", make_tree(self.path("warm"), files={"x": b"x"}))  # store exists
        env = {"MODELFS_LOCK_TIMEOUT_MS": "200"}
        p_slow = self.popen("models", "save", "slow:v1", slow_src, env_extra=env,
                            stdout=subprocess.PIPE)
        time.sleep(0.3)
        p_quick = self.popen("models", "save", "quick:v1", quick_src, env_extra=env,
                             stdout=subprocess.PIPE)
        results = {"quick:v1": self.finish(p_quick), "slow:v1": self.finish(p_slow)}
        succeeded = [t for t, (rc, _, _) in results.items() if rc == 0]
        self.assertTrue(succeeded, "neither save succeeded: %r" % results)
        for tag, (rc, out, err) in results.items():
            self.assert_ok_or_busy(tag, rc, err)
        self.assertEqual(set(succeeded) | {"warmup:v1"}, set(self.tags()))
        for tag in succeeded:
            self.assert_model_matches(tag, want[tag], read_back=2)
        self.assert_verify_ok()
        # A failed one can simply be retried once the store is free.
        for tag in set(want) - set(succeeded):
            self.save(tag, slow_src if tag == "slow:v1" else quick_src)
            self.assert_model_matches(tag, want[tag])
        self.assert_verify_ok()

    def test_lock_held_elsewhere_gives_busy_after_timeout(self):
        self.save("first:v1", make_tree(self.path("a"), files={"w.bin": 64 * KiB}))
        before = self.state()
        src = make_tree(self.path("b"), files={"w.bin": 64 * KiB})
        with StoreLockHolder(self.home):
            r = self.mf("models", "save", "second:v1", src,
                        env_extra={"MODELFS_LOCK_TIMEOUT_MS": "300"}, timeout=60)
        self.assert_error(r, contains="busy")
        self.assertGreaterEqual(r.elapsed, 0.25, "did not wait for the lock: %.3fs" % r.elapsed)
        self.assertLess(r.elapsed, 10, "waited far longer than MODELFS_LOCK_TIMEOUT_MS")
        self.assert_state_unchanged(before)
        self.save("second:v1", src)  # free again

    def test_default_lock_timeout_is_a_few_seconds(self):
        self.save("first:v1", make_tree(self.path("a"), files={"w.bin": 64 * KiB}))
        src = make_tree(self.path("b"), files={"w.bin": 64 * KiB})
        with StoreLockHolder(self.home):
            r = self.mf("models", "save", "second:v1", src, timeout=60)
        self.assert_error(r, contains="busy")
        self.assertGreaterEqual(r.elapsed, 4.0, "default wait should be about 5 s")
        self.assertLess(r.elapsed, 15)

    def test_waiting_writer_proceeds_when_lock_is_released(self):
        self.save("first:v1", make_tree(self.path("a"), files={"w.bin": 64 * KiB}))
        src = make_tree(self.path("b"), files={"w.bin": 1 * MiB})
        holder = StoreLockHolder(self.home).acquire()
        timer = threading.Timer(0.8, holder.release)
        timer.start()
        self.addCleanup(timer.cancel)
        self.addCleanup(holder.release)
        r = self.mf("models", "save", "second:v1", src,
                    env_extra={"MODELFS_LOCK_TIMEOUT_MS": "5000"}, timeout=60)
        self.assertEqual(0, r.rc, r.describe())
        self.assertGreaterEqual(r.elapsed, 0.6, "should have waited for the lock")
        self.assert_model_matches("second:v1", manifest(src), read_back=True)

    def test_many_small_saves_in_parallel(self):
        srcs = {"par%d:v1" % i: make_tree(self.path("s%d" % i),
                                          files={"w.bin": 512 * KiB, "shared.txt": b"same\n"})
                for i in range(6)}
        procs = {t: self.popen("models", "save", t, s, stdout=subprocess.PIPE,
                               env_extra={"MODELFS_LOCK_TIMEOUT_MS": "20000"})
                 for t, s in srcs.items()}
        for t, p in procs.items():
            rc, out, err = self.finish(p)
            self.assertEqual(0, rc, "%s failed: %s" % (t, err))
            self.assertIn('Model(tag="%s") saved.' % t, out)
        self.assertEqual(set(srcs), set(self.tags()))
        for t, s in srcs.items():
            self.assert_model_matches(t, manifest(s), read_back=True)
        self.assertEqual(6, self.stats()["models"])
        self.assert_verify_ok()

    def test_readers_during_a_slow_save(self):
        src = make_tree(self.path("slow"), files={"a.bin": 128 * MiB})
        want = manifest(src)
        p = self.popen("models", "save", "slow:v1", src, stdout=subprocess.PIPE)
        time.sleep(0.2)
        seen = []
        while p.poll() is None:
            r = self.mf("models", "list", "-o", "json", timeout=60)
            self.assert_ok_or_busy("list during save", r.rc, r.err)
            if r.rc == 0:
                seen.append([m["tag"] for m in self.json_of(r)])
            time.sleep(0.1)
        rc, out, err = self.finish(p)
        self.assertEqual(0, rc, err)
        for tags in seen:
            self.assertIn(tags, ([], ["slow:v1"]))
            if tags:
                self.assert_model_matches("slow:v1", want)  # visible means complete
        self.assert_model_matches("slow:v1", want, read_back=True)
        self.assert_verify_ok()

    def test_delete_and_gc_racing_a_save(self):
        base = make_tree(self.path("base"), files={"w.bin": 16 * MiB})
        self.save("old:v1", base)
        new = make_tree(self.path("new"), files={"w.bin": 64 * MiB})
        env = {"MODELFS_LOCK_TIMEOUT_MS": "20000"}
        p_save = self.popen("models", "save", "new:v1", new, env_extra=env, stdout=subprocess.PIPE)
        time.sleep(0.1)
        p_del = self.popen("models", "delete", "old:v1", "-y", env_extra=env,
                           stdout=subprocess.PIPE)
        p_gc = self.popen("cache", "gc", env_extra=env, stdout=subprocess.PIPE)
        for name, p in (("save", p_save), ("delete", p_del), ("gc", p_gc)):
            rc, _, err = self.finish(p)
            self.assertEqual(0, rc, "%s failed: %s" % (name, err))
        self.assertEqual(["new:v1"], self.tags())
        self.ok("cache", "gc")
        self.assert_model_matches("new:v1", manifest(new), read_back=True)
        self.assert_verify_ok()


if __name__ == "__main__":
    unittest.main()
