"""Saving directories and reading them back: round trips, tags, list/get output, dedup."""

import datetime
import json
import os
import re
import sys
import time
import unittest

from harness import (GiB, KiB, MiB, MODEL_YAML_KEYS, SLOW, VERSION_RE, ModelfsTestCase, manifest,
                     make_random_tree, make_tree, sha256_bytes, slow, write_random)

ISO_TZ_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def yaml_top_level_keys(text):
    """Top-level mapping keys of a block-style YAML document, in order."""
    keys = []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:", line)
        if m:
            keys.append(m.group(1))
    return keys


class RoundTripTest(ModelfsTestCase):

    def test_nested_empty_unicode_and_exec_bits_round_trip(self):
        src = make_tree(self.path("src"), files={
            "config.json": json.dumps({"hidden_size": 768, "layers": 12}).encode(),
            "weights/model.safetensors": 3 * MiB + 123,
            "weights/shard-00001-of-00002.bin": 200 * KiB,
            "empty.txt": b"",
            "one-byte": b"x",
            "a/b/c/d/e/deep.txt": b"deep\n",
            "données/模型.bin": 10 * KiB,
            "emoji 🙂 name.txt": b"hi\n",
            "spaces in dir/file name.txt": b"spaced\n",
            "compressible.txt": b"the quick brown fox jumps over the lazy dog\n" * 40000,
            "zeros.bin": bytes(2 * MiB),
            "run.sh": b"#!/bin/sh\necho hi\n",
            "bin/tool": 5 * KiB,
            "readonly.txt": b"read only\n",
        }, dirs=["empty_dir", "nested/empty/inside", "ünïcödé-empty"],
            modes={"run.sh": 0o755, "bin/tool": 0o555, "readonly.txt": 0o444})
        want = manifest(src)
        tag = self.save("roundtrip:v1", src)
        self.assertEqual("roundtrip:v1", tag)
        self.assert_model_matches(tag, want, read_back=True)

    def test_exec_bit_preserved(self):
        src = make_tree(self.path("src"), files={"exe": b"#!/bin/sh\n", "plain": b"data"},
                        modes={"exe": 0o755, "plain": 0o644})
        tag = self.save("execbits:v1", src)
        entries = self.files(tag)
        self.assertNotEqual(0, entries["exe"]["mode"] & 0o111, "exec bit lost: %r" % entries["exe"])
        self.assertEqual(0, entries["plain"]["mode"] & 0o111, "exec bit added: %r" % entries["plain"])

    def test_empty_dir_listed_as_dir(self):
        src = make_tree(self.path("src"), files={"f.txt": b"x"}, dirs=["empty", "p/q"])
        tag = self.save("emptydirs:v1", src)
        entries = self.files(tag)
        for d in ("empty", "p/q"):
            self.assertIn(d, entries, "empty directory %s not in files output" % d)
            self.assertEqual("dir", entries[d]["type"])

    def test_cat_reads_bytes_and_missing_path_fails(self):
        data = os.urandom(300 * KiB)
        src = make_tree(self.path("src"), files={"sub/blob.bin": data})
        tag = self.save("cat:v1", src)
        self.assertEqual(data, self.cat(tag, "sub/blob.bin"))
        self.fails("models", "cat", tag, "sub/no-such-file")
        self.fails("models", "cat", "no-such-model:v1", "sub/blob.bin")

    def test_symlinks_to_regular_files_are_followed(self):
        # A Hugging Face cache snapshot: every file is a relative symlink into blobs/.
        root = self.path("hfcache", "models--org--name")
        cfg = b'{"model_type": "bert"}\n'
        write_random(os.path.join(root, "blobs", "b" * 64), 1 * MiB + 7)
        make_tree(os.path.join(root, "blobs"), files={"a" * 40: cfg})
        snap = os.path.join(root, "snapshots", "0123abcd")
        os.makedirs(os.path.join(snap, "sub"))
        os.symlink("../../blobs/" + "a" * 40, os.path.join(snap, "config.json"))
        os.symlink("../../../blobs/" + "b" * 64, os.path.join(snap, "sub", "model.safetensors"))
        # An absolute symlink to a regular file outside the tree, and one to a file inside it.
        outside = self.path("outside.txt")
        make_tree(self.path(), files={"outside.txt": b"outside\n"})
        os.symlink(outside, os.path.join(snap, "abs-link.txt"))
        os.symlink("config.json", os.path.join(snap, "inner-link.json"))
        want = manifest(snap)
        self.assertEqual(sha256_bytes(cfg), want["files"]["config.json"]["sha256"])
        tag = self.save("hf-snapshot:v1", snap)
        self.assert_model_matches(tag, want, read_back=True)
        self.assertEqual(cfg, self.cat(tag, "config.json"))

    def test_many_small_files(self):
        n = 100000 if SLOW else 5000
        src = make_random_tree(self.path("src"), n, max_size=2 * KiB)
        want = manifest(src)
        self.assertEqual(n, len(want["files"]))
        t0 = time.monotonic()
        tag = self.save("many:v1", src, timeout=3600)
        save_s = time.monotonic() - t0
        sys.stderr.write("  [saving %d small files took %.1fs] " % (n, save_s))
        self.assert_model_matches(tag, want, read_back=20)
        if not SLOW:
            self.assertLess(save_s, 30, "saving %d small files took %.1fs" % (n, save_s))

    @slow
    def test_file_larger_than_4_gib(self):
        src = self.path("src")
        os.makedirs(src)
        big = os.path.join(src, "huge.bin")
        size = 4 * GiB + 4097
        with open(big, "wb") as f:
            f.truncate(size)  # sparse; real data only in a few places, incl. across 4 GiB
            for off in (0, 2 * GiB + 11, 4 * GiB - 3000, size - 5000):
                f.seek(off)
                f.write(os.urandom(5000 if off == size - 5000 else 7000))
        make_tree(src, files={"config.json": b"{}"})
        want = manifest(src)
        tag = self.save("huge:v1", src, timeout=3600)
        entries = self.files(tag)
        self.assertEqual(size, entries["huge.bin"]["size"])
        self.assert_model_matches(tag, want)
        rc, digest, n, err = self.cat_sha256(tag, "huge.bin", timeout=3600)
        self.assertEqual(0, rc, err)
        self.assertEqual(size, n)
        self.assertEqual(want["files"]["huge.bin"]["sha256"], digest)
        self.assert_verify_ok(tag)


class TagAndRecordTest(ModelfsTestCase):

    def small_src(self, name="src", content=None):
        return make_tree(self.path(name), files={"model.bin": content or os.urandom(4 * KiB),
                                                 "config.json": b"{}"})

    def test_generated_version(self):
        tag = self.save("mymodel", self.small_src())
        name, _, version = tag.partition(":")
        self.assertEqual("mymodel", name)
        self.assertRegex(version, VERSION_RE, "generated version must be 16 chars of [a-z2-7]")
        self.assertEqual([tag], self.tags())
        tag2 = self.save("mymodel", self.small_src("src2"))
        self.assertNotEqual(tag, tag2, "two generated versions must differ")

    def test_labels_metadata_module_in_get(self):
        tag = self.save("labelled:v1", self.small_src(), "--label", "team=nlp", "--label",
                        "stage=dev", "--metadata", "acc=0.91", "--metadata", "note=hello world",
                        "--module", "transformers")
        rec = self.get_json(tag)
        self.assertEqual("labelled", rec["name"])
        self.assertEqual("v1", rec["version"])
        self.assertEqual("transformers", rec["module"])
        self.assertEqual({"team": "nlp", "stage": "dev"}, rec["labels"])
        self.assertEqual("0.91", str(rec["metadata"]["acc"]))
        self.assertEqual("hello world", rec["metadata"]["note"])
        [row] = self.list_json()
        self.assertEqual("transformers", row["module"])

    def test_get_yaml_has_bentoml_keys_in_order(self):
        tag = self.save("yamlkeys:v1", self.small_src(), "--label", "team=nlp")
        for args in (("models", "get", tag), ("models", "get", tag, "-o", "yaml")):
            r = self.ok(*args)
            keys = yaml_top_level_keys(r.text)
            self.assertEqual(list(MODEL_YAML_KEYS), [k for k in keys if k in MODEL_YAML_KEYS],
                             "model.yaml keys / order:\n" + r.text)
            self.assertRegex(r.text, r"(?m)^name: *['\"]?yamlkeys['\"]?\s*$")
            self.assertRegex(r.text, r"(?m)^version: *['\"]?v1['\"]?\s*$")
            self.assertRegex(r.text, r"(?m)^\s+team: *['\"]?nlp['\"]?\s*$")
        rec = self.get_json(tag)
        for k in MODEL_YAML_KEYS:
            self.assertIn(k, rec, "get -o json lacks %r" % k)
        ct = str(rec["creation_time"])
        self.assertRegex(ct, ISO_TZ_RE, "creation_time must be ISO-8601 with a time zone")
        parsed = datetime.datetime.fromisoformat(ct.replace("Z", "+00:00"))
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - parsed).total_seconds()), 600, "creation_time is not now")

    def test_model_yaml_in_directory_is_used(self):
        src = self.small_src()
        own_yaml = (
            "name: other-name\n"
            "version: oldversion1\n"
            "module: transformers\n"
            "labels:\n"
            "  team: cv\n"
            "  owner: alice\n"
            "options: {}\n"
            "metadata:\n"
            "  accuracy: 0.5\n"
            "  source: unit-test\n"
            "context:\n"
            "  framework_name: transformers\n"
            "  framework_versions:\n"
            "    transformers: 4.40.0\n"
            "  bentoml_version: 1.4.0\n"
            "  python_version: 3.11.7\n"
            "signatures: {}\n"
            "api_version: v1\n"
            "creation_time: '2024-01-01T00:00:00+00:00'\n").encode()
        make_tree(src, files={"model.yaml": own_yaml})
        want = manifest(src, exclude=("model.yaml",))
        tag = self.save("fromyaml:v7", src)
        self.assertEqual("fromyaml:v7", tag, "the tag from the command line wins")
        rec = self.get_json(tag)
        self.assertEqual("fromyaml", rec["name"])
        self.assertEqual("v7", rec["version"])
        self.assertEqual("transformers", rec["module"])
        self.assertEqual({"team": "cv", "owner": "alice"}, rec["labels"])
        self.assertEqual("0.5", str(rec["metadata"]["accuracy"]))
        self.assertEqual("unit-test", rec["metadata"]["source"])
        self.assert_model_matches(tag, want)
        entries = self.files(tag)
        if "model.yaml" in entries:
            self.assertNotEqual(sha256_bytes(own_yaml), entries["model.yaml"].get("sha256"),
                                "the directory's own model.yaml must not be stored as a file")
        text = self.ok("models", "get", tag, "-o", "yaml").text
        self.assertRegex(text, r"(?m)^name: *['\"]?fromyaml['\"]?\s*$")
        self.assertNotIn("other-name", text)

    def test_list_newest_first_table_json_yaml_and_name_filter(self):
        a1 = self.save("alpha:v1", self.small_src("s1"))
        time.sleep(1.1)
        b1 = self.save("beta:v1", self.small_src("s2"))
        time.sleep(1.1)
        a2 = self.save("alpha:v2", self.small_src("s3"))
        rows = self.list_json()
        self.assertEqual([a2, b1, a1], [r["tag"] for r in rows], "list must be newest first")
        for r in rows:
            for k in ("tag", "module", "size", "creation_time"):
                self.assertIn(k, r)
            self.assertIsInstance(r["size"], str, "size is a human-readable string")
            self.assertTrue(r["size"].strip())
        self.assertEqual([a2, a1], self.tags("alpha"))
        self.assertEqual([b1], self.tags("beta"))
        table = self.ok("models", "list").text
        lines = [l for l in table.splitlines() if l.strip()]
        header = lines[0]
        for col in ("Tag", "Module", "Size", "Creation Time"):
            self.assertIn(col, header, "table header:\n" + table)
        self.assertLess(header.index("Tag"), header.index("Module"))
        self.assertLess(header.index("Module"), header.index("Size"))
        self.assertLess(header.index("Size"), header.index("Creation Time"))
        pos = [next(i for i, l in enumerate(lines) if t in l.split()) for t in (a2, b1, a1)]
        self.assertEqual(sorted(pos), pos, "table must be newest first:\n" + table)
        yaml_text = self.ok("models", "list", "-o", "yaml").text
        for t in (a1, a2, b1):
            self.assertIn(t, yaml_text)

    def test_list_empty_store(self):
        self.assertEqual([], self.list_json())
        r = self.ok("models", "list")
        self.assertIn("Tag", r.text)

    def test_latest_and_unique_version_prefix(self):
        self.save("m:abc111", self.small_src("s1"))
        time.sleep(1.1)
        self.save("m:abd222", self.small_src("s2"))
        time.sleep(1.1)
        self.save("m:xyz", self.small_src("s3"))
        self.assertEqual("xyz", self.get_json("m")["version"])
        self.assertEqual("xyz", self.get_json("m:latest")["version"])
        self.assertEqual("abc111", self.get_json("m:abc")["version"])
        self.assertEqual("abd222", self.get_json("m:abd2")["version"])
        self.assertEqual("abc111", self.get_json("m:abc111")["version"])
        self.fails("models", "get", "m:ab")          # ambiguous prefix
        self.fails("models", "get", "m:nope")
        self.fails("models", "get", "nosuchmodel")
        self.fails("models", "get", "nosuchmodel:latest")

    def test_upper_case_tag_is_lower_cased_with_warning(self):
        r = self.ok("models", "save", "MyModel:V1", self.small_src())
        self.assertIn('Model(tag="mymodel:v1") saved.', r.text)
        self.assertTrue(r.err.strip(), "expected a warning on stderr:\n" + r.describe())
        self.assertEqual(["mymodel:v1"], self.tags())
        self.assertEqual("mymodel", self.get_json("MYMODEL:v1")["name"])

    def test_63_char_parts_are_accepted(self):
        name, version = "n" * 63, "v" * 63
        tag = self.save("%s:%s" % (name, version), self.small_src())
        self.assertEqual("%s:%s" % (name, version), tag)
        self.assertEqual([tag], self.tags())

    def test_saving_an_existing_tag_fails(self):
        src = self.small_src()
        self.save("dup:v1", src)
        before = self.state()
        self.fails("models", "save", "dup:v1", self.small_src("other"), contains="already exists")
        self.fails("models", "save", "dup:v1", src, contains="already exists")
        self.assert_state_unchanged(before)

    def test_stats_count_models_and_bytes(self):
        st0 = self.stats()
        self.assertEqual(0, st0["models"])
        src = make_tree(self.path("src"), files={"a.bin": 1 * MiB, "b.bin": 100 * KiB})
        self.save("stats:v1", src)
        st1 = self.stats()
        self.assertEqual(1, st1["models"])
        self.assertGreaterEqual(st1["logical_bytes"], 1 * MiB + 100 * KiB)
        self.assertLess(st1["logical_bytes"], 1 * MiB + 100 * KiB + 64 * KiB)
        self.assertGreater(st1["chunks"], 0)
        self.assertGreater(st1["packs"], 0)
        self.assertGreaterEqual(st1["pack_bytes"], 1 * MiB, "random data does not compress")
        self.save("stats:v2", src)
        self.assertEqual(2, self.stats()["models"])
        self.ok("cache", "stats")  # the human form works too


class DedupTest(ModelfsTestCase):

    def test_same_directory_twice_grows_store_by_less_than_half_a_percent(self):
        src = make_tree(self.path("src"), files={
            "model.safetensors": 48 * MiB, "extra/shard.bin": 16 * MiB - 4321,
            "config.json": b'{"a": 1}\n', "tokenizer.json": os.urandom(300 * KiB)})
        want = manifest(src)
        self.save("first:v1", src)
        st1, disk1 = self.stats(), self.pack_disk_bytes()
        self.save("second:v1", src)
        st2, disk2 = self.stats(), self.pack_disk_bytes()
        self.assertGreaterEqual(st1["pack_bytes"], 64 * MiB, "random data must be stored")
        for key, b, a in (("pack_bytes", st1["pack_bytes"], st2["pack_bytes"]),
                          ("stored_bytes", st1["stored_bytes"], st2["stored_bytes"]),
                          ("packs/ on disk", disk1, disk2)):
            self.assertLess(a - b, 0.005 * b,
                            "%s grew from %d to %d (%.3f%%)" % (key, b, a, 100.0 * (a - b) / b))
        self.assertGreaterEqual(st2["logical_bytes"] - st1["logical_bytes"], 64 * MiB)
        self.assertEqual(2, st2["models"])
        self.assert_model_matches("second:v1", want, read_back=True)

    def test_shifted_copy_reuses_most_chunks(self):
        # One byte inserted near the start must not change every chunk (content-defined chunking).
        data = os.urandom(32 * MiB)
        make_tree(self.path("a"), files={"w.bin": data})
        make_tree(self.path("b"), files={"w.bin": data[:1000] + b"!" + data[1000:]})
        self.save("shift:v1", self.path("a"))
        before = self.stats()["pack_bytes"]
        self.save("shift:v2", self.path("b"))
        grown = self.stats()["pack_bytes"] - before
        self.assertLess(grown, 8 * MiB, "a 1-byte insert cost %d bytes of new packs" % grown)
        self.assertEqual(sha256_bytes(data[:1000] + b"!" + data[1000:]),
                         self.files("shift:v2")["w.bin"]["sha256"])


if __name__ == "__main__":
    unittest.main()
