"""--help everywhere, choice of the store directory, global options."""

import os
import unittest

from harness import BIN, KiB, ModelfsTestCase, make_tree

COMMANDS = [
    [],
    ["models"],
    ["models", "save"],
    ["models", "list"],
    ["models", "get"],
    ["models", "delete"],
    ["models", "files"],
    ["models", "cat"],
    ["cache"],
    ["cache", "stats"],
    ["cache", "gc"],
    ["verify"],
]


class HelpTest(ModelfsTestCase):

    def test_help_on_every_command(self):
        for cmd in COMMANDS:
            with self.subTest(cmd=" ".join(cmd + ["--help"])):
                r = self.mf(*(cmd + ["--help"]))
                self.assertEqual(0, r.rc, r.describe())
                self.assertIn("usage", r.text.lower(), "no usage text:\n" + r.describe())

    def test_help_lists_subcommands(self):
        top = self.ok("--help").text
        for word in ("models", "cache", "verify"):
            self.assertIn(word, top)
        models = self.ok("models", "--help").text
        for word in ("save", "list", "get", "delete"):
            self.assertIn(word, models)
        cache = self.ok("cache", "--help").text
        for word in ("stats", "gc"):
            self.assertIn(word, cache)

    def test_log_level_option(self):
        for level in ("debug", "info", "warning", "error"):
            with self.subTest(level=level):
                r = self.ok("--log-level", level, "models", "list", "-o", "json")
                self.assertEqual([], self.json_of(r))


class HomeTest(ModelfsTestCase):

    def src(self):
        return make_tree(self.path("src"), files={"w.bin": 4 * KiB})

    def plain(self, *args, env_extra=None):
        """Runs the binary without --home."""
        return self.run_cmd([BIN] + list(args), env_extra=env_extra)

    def test_home_option_creates_store(self):
        home = self.path("deep", "er", "store")
        self.save("h:v1", self.src(), home=home)
        self.assertTrue(os.path.isdir(home))
        self.assertTrue(os.path.isdir(os.path.join(home, "packs")))
        self.assertTrue(os.path.exists(os.path.join(home, "index")))
        self.assertEqual(["h:v1"], self.tags(home=home))
        self.assertFalse(os.path.exists(os.path.join(self.user_home, ".local")))

    def test_modelfs_home_environment_variable(self):
        home = self.path("envhome")
        r = self.plain("models", "save", "e:v1", self.src(), env_extra={"MODELFS_HOME": home})
        self.assertEqual(0, r.rc, r.describe())
        self.assertTrue(os.path.isdir(os.path.join(home, "packs")))
        self.assertEqual(["e:v1"], self.tags(home=home))
        self.assertFalse(os.path.exists(os.path.join(self.user_home, ".local", "share", "modelfs")))

    def test_home_option_wins_over_environment(self):
        env_home, opt_home = self.path("env"), self.path("opt")
        r = self.run_cmd([BIN, "--home", opt_home, "models", "save", "o:v1", self.src()],
                         env_extra={"MODELFS_HOME": env_home})
        self.assertEqual(0, r.rc, r.describe())
        self.assertEqual(["o:v1"], self.tags(home=opt_home))
        self.assertFalse(os.path.exists(os.path.join(env_home, "packs")))

    def test_default_home_under_user_home(self):
        r = self.plain("models", "save", "d:v1", self.src())
        self.assertEqual(0, r.rc, r.describe())
        default = os.path.join(self.user_home, ".local", "share", "modelfs")
        self.assertTrue(os.path.isdir(os.path.join(default, "packs")),
                        "store not created in $HOME/.local/share/modelfs")
        self.assertEqual(["d:v1"], self.tags(home=default))


if __name__ == "__main__":
    unittest.main()
