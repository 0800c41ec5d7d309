"""Bad input: a clear `Error: ...` on stderr, exit code 1, and the store left as it was."""

import os
import socket
import stat
import unittest

from harness import KiB, ModelfsTestCase, make_tree


class BadInputTest(ModelfsTestCase):

    def setUp(self):
        super().setUp()
        # Every case starts from a store holding one model, so "unchanged" means something.
        self.good = make_tree(self.path("good"), files={"w.bin": 64 * KiB, "c.json": b"{}"})
        self.save("existing:v1", self.good)
        self.before = self.state()

    def expect_refused(self, *args, contains=None):
        r = self.fails(*args, contains=contains)
        self.assert_state_unchanged(self.before, what="after: " + " ".join(map(str, args)))
        return r

    def src_with(self, name, **files):
        return make_tree(self.path(name), files={"ok.bin": b"fine\n", **files})

    # tags ------------------------------------------------------------------------------------
    def test_invalid_tags(self):
        bad = ["name:", "", "../x", "a/b", "a" * 64, "a" * 64 + ":v1", "ok:" + "v" * 64,
               "x-", "-x", ".hidden", "a b", "x:y:z", "ok:../v", "ök"]
        for tag in bad:
            with self.subTest(tag=tag):
                # "--" is not used: the tag is positional; a leading "-" must still not be saved.
                r = self.mf("models", "save", tag, self.good)
                self.assertNotEqual(0, r.rc, "tag %r was accepted:\n%s" % (tag, r.describe()))
                self.assert_error(r)
                self.assert_state_unchanged(self.before, what="after tag %r" % tag)

    def test_invalid_tags_on_get_and_delete(self):
        for tag in ("name:", "../x", "a" * 64):
            with self.subTest(tag=tag):
                self.expect_refused("models", "get", tag)
                self.expect_refused("models", "delete", tag, "-y")

    # directories -----------------------------------------------------------------------------
    def test_missing_directory(self):
        self.expect_refused("models", "save", "m:v1", self.path("does-not-exist"))

    def test_file_instead_of_directory(self):
        make_tree(self.path(), files={"plain.bin": b"data"})
        self.expect_refused("models", "save", "m:v1", self.path("plain.bin"))

    def test_unreadable_directory(self):
        if os.geteuid() == 0:
            self.skipTest("root bypasses permissions")
        d = self.src_with("unreadable")
        os.chmod(d, 0)
        self.expect_refused("models", "save", "m:v1", d)

    def test_unreadable_file_inside(self):
        if os.geteuid() == 0:
            self.skipTest("root bypasses permissions")
        d = self.src_with("unreadable-file", **{"secret.bin": b"secret"})
        os.chmod(os.path.join(d, "secret.bin"), 0)
        self.expect_refused("models", "save", "m:v1", d)

    def test_empty_directory(self):
        os.makedirs(self.path("empty"))
        self.expect_refused("models", "save", "m:v1", self.path("empty"))

    def test_directory_with_only_empty_subdirectories(self):
        for d in ("a/b/c", "d", "e/f"):
            os.makedirs(self.path("hollow", d))
        self.expect_refused("models", "save", "m:v1", self.path("hollow"))

    # special files ---------------------------------------------------------------------------
    def test_symlink_to_directory_outside_tree(self):
        outside = make_tree(self.path("outside"), files={"o.bin": b"outside"})
        d = self.src_with("with-dirlink")
        os.symlink(outside, os.path.join(d, "abs-dir-link"))
        self.expect_refused("models", "save", "m:v1", d)

    def test_relative_symlink_leaving_tree_into_directory(self):
        make_tree(self.path("sibling"), files={"s.bin": b"sibling"})
        d = self.src_with("with-rel-dirlink")
        os.makedirs(os.path.join(d, "sub"))
        os.symlink("../../sibling", os.path.join(d, "sub", "escape"))
        self.expect_refused("models", "save", "m:v1", d)

    def test_dangling_symlink(self):
        d = self.src_with("with-dangling")
        os.symlink(self.path("nowhere", "missing.bin"), os.path.join(d, "dangling"))
        self.expect_refused("models", "save", "m:v1", d)

    def test_fifo(self):
        d = self.src_with("with-fifo")
        os.mkfifo(os.path.join(d, "pipe"))
        self.expect_refused("models", "save", "m:v1", d)

    def test_unix_socket(self):
        d = self.src_with("with-socket")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        path = os.path.join(d, "sock")
        if len(path.encode()) > 100:
            self.skipTest("temporary path too long for a unix socket")
        s.bind(path)
        self.assertTrue(stat.S_ISSOCK(os.lstat(path).st_mode))
        self.expect_refused("models", "save", "m:v1", d)

    def test_symlink_to_device(self):
        # Following it would read /dev/zero forever; it must be refused like any device.
        d = self.src_with("with-devlink")
        os.symlink("/dev/zero", os.path.join(d, "zero"))
        self.expect_refused("models", "save", "m:v1", d)

    def test_device_node(self):
        d = self.src_with("with-device")
        try:
            os.mknod(os.path.join(d, "null"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except (PermissionError, OSError) as e:
            self.skipTest("cannot create a device node here: %s" % e)
        self.expect_refused("models", "save", "m:v1", d)

    # other commands --------------------------------------------------------------------------
    def test_existing_tag(self):
        self.expect_refused("models", "save", "existing:v1", self.src_with("again"),
                            contains="already exists")

    def test_get_delete_unknown_model(self):
        self.expect_refused("models", "get", "nope:v1")
        self.expect_refused("models", "get", "existing:nope")
        self.expect_refused("models", "delete", "nope:v1", "-y")
        self.expect_refused("models", "delete", "nope", "-y")
        self.expect_refused("models", "files", "nope:v1")
        self.expect_refused("verify", "nope:v1")

    def test_delete_without_yes_on_non_tty(self):
        r = self.expect_refused("models", "delete", "existing:v1")
        self.assertIn("-y", r.err, "the error should say to pass -y:\n" + r.describe())

    def test_bad_output_format(self):
        self.expect_refused("models", "list", "-o", "xml")
        self.expect_refused("models", "get", "existing:v1", "-o", "xml")

    def test_unknown_command_and_option(self):
        self.expect_refused("frobnicate")
        self.expect_refused("models", "frobnicate")
        self.expect_refused("models", "list", "--no-such-option")

    def test_missing_arguments(self):
        self.expect_refused("models", "save")
        self.expect_refused("models", "save", "only-a-tag")
        self.expect_refused("models", "get")

    def test_bad_label_syntax(self):
        self.expect_refused("models", "save", "m:v1", self.good, "--label", "novalue")
        self.expect_refused("models", "save", "m:v1", self.good, "--metadata", "=x")


if __name__ == "__main__":
    unittest.main()
