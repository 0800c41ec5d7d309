"""Crash safety: SIGKILL a save, delete or gc at random moments, then check the store.

After every kill: `verify` passes, every model committed before is still there byte for byte,
and the model being saved/deleted is either complete or absent -- never half there.  At the end
`cache gc` reclaims the leftovers and a fresh save works.  Set MODELFS_TEST_SEED to replay.
"""

import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

from harness import KiB, MiB, ModelfsTestCase, kill_group, make_tree, manifest, seed_from_env, \
    write_random

ITERATIONS = 10


class CrashTest(ModelfsTestCase):

    def setUp(self):
        super().setUp()
        self.seed = seed_from_env()
        self.rng = random.Random(self.seed)  # kill delays
        self.sample_rng = random.Random(self.seed + 1)  # which models to re-check each round
        self.killed = 0

    def note(self, msg):
        sys.stderr.write("  [%s seed=%d] %s\n" % (self._testMethodName, self.seed, msg))

    def run_and_kill(self, delay, *args):
        """Starts `modelfs args`, SIGKILLs it after `delay` s unless it ended. Returns (killed, rc,
        stderr)."""
        with tempfile.TemporaryFile() as err:
            p = self.popen(*args, stderr=err)
            try:
                rc = p.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                kill_group(p)
                rc = p.wait()
                killed = True
                self.killed += 1
            err.seek(0)
            return killed, rc, err.read().decode("utf-8", "replace")

    def short_or_long_delay(self):
        """Delays for fast commands: mostly within the first 0.2 s, sometimes up to 1.5 s."""
        r = self.rng.random()
        if r < 0.4:
            return self.rng.uniform(0, 0.05)
        if r < 0.8:
            return self.rng.uniform(0.05, 0.25)
        return self.rng.uniform(0, 1.5)

    def check_store(self, committed, maybe=None, read_back=(), sample=None):
        """verify passes; `committed` {tag: manifest} all present (and intact: all of them, or the
        `read_back` ones plus `sample` others chosen at random); each of `maybe` {tag: manifest}
        either absent or intact; no other model. Returns the set of `maybe` tags present."""
        ctx = "(seed %d)" % self.seed
        r = self.verify()
        self.assertEqual(0, r.rc, "verify after a kill %s:\n%s" % (ctx, r.describe()))
        maybe = maybe or {}
        tags = set(self.tags())
        missing = set(committed) - tags
        self.assertEqual(set(), missing, "committed models lost %s" % ctx)
        unexpected = tags - set(committed) - set(maybe)
        self.assertEqual(set(), unexpected, "unexpected models %s" % ctx)
        to_check = list(committed)
        if sample is not None:
            others = [t for t in to_check if t not in read_back]
            to_check = [t for t in to_check if t in read_back] + \
                self.sample_rng.sample(others, min(sample, len(others)))
        for tag in to_check:
            self.assert_model_matches(tag, committed[tag],
                                      read_back=(2 if tag in read_back else False))
        present = set()
        for tag, want in maybe.items():
            if tag in tags:
                present.add(tag)
                self.assert_model_matches(tag, want, read_back=2)
        return present

    # ------------------------------------------------------------------------------------------
    def test_kill_during_save(self):
        big_files = ["model-%05d-of-00004.safetensors" % i for i in range(4)]
        files = {name: 48 * MiB for name in big_files}
        files.update({"config.json": b'{"layers": 24}\n', "tokenizer/vocab.txt": 200 * KiB,
                      "tokenizer/merges.txt": 100 * KiB, "empty.txt": b""})
        src = make_tree(self.path("src"), files=files, dirs=["empty_dir"])
        # One uninterrupted save first: a committed model that must survive every later kill,
        # and the time a save takes here, so that the kills also land late in a save.
        t0 = time.monotonic()
        self.save("crash:base", src)
        full = time.monotonic() - t0
        committed = {"crash:base": manifest(src)}
        max_delay = max(1.5, 1.25 * full)
        self.note("an uninterrupted save took %.2fs; kill delays 0-%.2fs" % (full, max_delay))
        for i in range(ITERATIONS):
            # New data every round, so each save writes fresh chunks as well as dedups.
            write_random(os.path.join(src, big_files[i % 4]), 48 * MiB)
            want = manifest(src)
            tag = "crash:v%d" % i
            delay = self.rng.uniform(0, max_delay)
            killed, rc, err = self.run_and_kill(delay, "models", "save", tag, src)
            if not killed:
                self.assertEqual(0, rc, "save ended on its own but failed: %s" % err)
            present = self.check_store(committed, {tag: want}, sample=3)
            if not killed:
                self.assertIn(tag, present, "a save that succeeded is not listed")
            if present:
                committed[tag] = want
            self.note("round %d: delay %.2fs, %s, model %s" % (
                i, delay, "killed" if killed else "finished", "present" if present else "absent"))
        self.note("%d of %d saves killed mid-way" % (self.killed, ITERATIONS))
        self.ok("cache", "gc")
        self.check_store(committed, read_back=["crash:base"] + list(committed)[-1:])
        self.save("fresh:v1", src)
        self.assert_model_matches("fresh:v1", manifest(src), read_back=True)
        # Everything a killed save left behind is reclaimable.
        for tag in list(committed) + ["fresh:v1"]:
            self.ok("models", "delete", tag, "-y")
        self.ok("cache", "gc")
        st = self.stats()
        self.assertEqual(0, st["models"])
        self.assertLess(st["pack_bytes"], 1 * MiB, "leftovers of killed saves not reclaimed")
        self.assertLess(self.pack_disk_bytes(), 1 * MiB, "leftovers of killed saves not reclaimed")
        self.assert_verify_ok()

    def test_kill_during_delete(self):
        keep_src = make_tree(self.path("keep"), files={"w.bin": 8 * MiB, "c.json": b"{}"})
        self.save("keep:v1", keep_src)
        committed = {"keep:v1": manifest(keep_src)}
        victims = {}  # tag -> manifest of the versions of "victim" that should exist now
        for i in range(ITERATIONS):
            for v in ("v1", "v2"):
                tag = "victim:" + v
                if tag in victims:
                    continue  # left over by a killed delete: delete it again this round
                src = make_tree(self.path("del%d%s" % (i, v)), files={"w.bin": 4 * MiB})
                make_tree(src, files={"small/f%03d.txt" % k: os.urandom(64) for k in range(200)})
                self.save(tag, src)
                victims[tag] = manifest(src)
            delay = self.short_or_long_delay()
            killed, rc, err = self.run_and_kill(delay, "models", "delete", "victim", "-y")
            if not killed:
                self.assertEqual(0, rc, "delete ended on its own but failed: %s" % err)
            present = self.check_store(committed, victims, read_back=["keep:v1"])
            if not killed:
                self.assertEqual(set(), present, "a delete that succeeded left models behind")
            victims = {t: m for t, m in victims.items() if t in present}
            self.note("round %d: delay %.3fs, %s, %d of 2 versions left" % (
                i, delay, "killed" if killed else "finished", len(present)))
        self.note("%d of %d deletes killed mid-way" % (self.killed, ITERATIONS))
        self.ok("cache", "gc")
        committed.update(victims)
        self.check_store(committed, read_back=list(committed))
        self.save("fresh:v1", keep_src)
        self.assert_model_matches("fresh:v1", committed["keep:v1"], read_back=True)

    def test_kill_during_gc(self):
        committed = {}
        for i in range(ITERATIONS):
            # hold<i> keeps a.bin alive; b.bin becomes garbage sharing packs with it.
            mix = make_tree(self.path("mix%d" % i), files={"a.bin": 8 * MiB, "b.bin": 24 * MiB})
            hold = self.path("hold%d" % i)
            os.makedirs(hold)
            os.link(os.path.join(mix, "a.bin"), os.path.join(hold, "a.bin"))
            self.save("mix%d:v1" % i, mix)
            self.save("hold%d:v1" % i, hold)
            committed["hold%d:v1" % i] = manifest(hold)
            self.ok("models", "delete", "mix%d:v1" % i, "-y")
            delay = self.short_or_long_delay()
            killed, rc, err = self.run_and_kill(delay, "cache", "gc")
            if not killed:
                self.assertEqual(0, rc, "gc ended on its own but failed: %s" % err)
            earlier = self.rng.choice(list(committed))
            self.check_store(committed, read_back=["hold%d:v1" % i, earlier], sample=2)
            self.note("round %d: delay %.3fs, %s" % (i, delay, "killed" if killed else "finished"))
        self.note("%d of %d gc runs killed mid-way" % (self.killed, ITERATIONS))
        self.ok("cache", "gc")
        self.check_store(committed, read_back=list(committed))
        live = 8 * MiB * ITERATIONS
        pack_bytes = self.stats()["pack_bytes"]
        self.assertLess(pack_bytes, 2 * live, "gc left %d pack bytes for %d live" % (pack_bytes,
                                                                                    live))
        src = make_tree(self.path("fresh"), files={"n.bin": 3 * MiB})
        self.save("fresh:v1", src)
        self.assert_model_matches("fresh:v1", manifest(src), read_back=True)
        self.assert_verify_ok()


if __name__ == "__main__":
    unittest.main()
