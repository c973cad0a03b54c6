#!/usr/bin/env python3
"""tools/check_readme_commands.py fails when it should: on a failing command,
an unmarked shell block, a marker without a block or a reason, and a file
with nothing to run; and it runs the blocks in order, in one shell, in a copy
of the source tree, with a clean environment.

usage: test_readme_check.py   (standard library only; no build tree needed)
"""
import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                       "check_readme_commands.py")


def run(md, extra_files=None):
    """(exit status, output, source dir) of the checker on one README.md."""
    src = tempfile.mkdtemp(prefix="readme-check-test-")
    build = os.path.join(src, "build-x")
    os.mkdir(build)
    with open(os.path.join(build, "built.txt"), "w") as f:
        f.write("built\n")
    with open(os.path.join(src, "README.md"), "w") as f:
        f.write(md)
    for name, text in (extra_files or {}).items():
        with open(os.path.join(src, name), "w") as f:
            f.write(text)
    env = dict(os.environ, COVIDCAM_LIBRARY="/leaked", LD_LIBRARY_PATH="/leaked",
               PYTHONPATH="/leaked")
    p = subprocess.run([sys.executable, CHECKER, "--no-install-check", src, build, "README.md"],
                       capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout + p.stderr, src


class ReadmeCheckTest(unittest.TestCase):
    def test_blocks_run_in_order_in_one_shell_in_a_copy(self):
        md = """# t
<!-- readme-check: run -->
```sh
cat data.txt > seen.txt
cat build/built.txt >> seen.txt
export CARRIED=yes
echo "lib=${COVIDCAM_LIBRARY-unset} ld=${LD_LIBRARY_PATH-unset} py=${PYTHONPATH-unset}" >> seen.txt
```

<!-- readme-check: skip: not run -->
```sh
false
```

<!-- readme-check: run -->
```python
import os
with open("seen.txt", "a") as f:
    f.write("carried=%s home=%s\\n" % (os.environ["CARRIED"], os.environ["HOME"] != "@HOME@"))
```

<!-- readme-check: run -->
```sh
test "$(sed -n 1p seen.txt)" = "the data"
test "$(sed -n 2p seen.txt)" = built
test "$(sed -n 3p seen.txt)" = "lib=unset ld=unset py=unset"
test "$(sed -n 4p seen.txt)" = "carried=yes home=True"
```
"""
        md = md.replace("@HOME@", os.path.expanduser("~"))
        rc, out, src = run(md, {"data.txt": "the data\n"})
        self.assertEqual(rc, 0, out)
        self.assertIn("3 block(s) run, 1 skipped: PASS", out)
        self.assertIn("skipped README.md:11: not run", out)
        # the commands ran in the copy, not in the source tree
        self.assertFalse(os.path.exists(os.path.join(src, "seen.txt")))

    def test_failing_command_fails_and_names_its_block(self):
        md = """<!-- readme-check: run -->
```sh
true
```
<!-- readme-check: run -->
```sh
echo before
ls /nonexistent-readme-check-path
echo after
```
"""
        rc, out, _ = run(md)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("FAILED in README.md:6", out)
        self.assertIn("before", out)
        self.assertNotIn("\nafter", out)
        self.assertIn(": FAIL", out)

    def test_failing_python_block_fails(self):
        rc, out, _ = run("<!-- readme-check: run -->\n```python\nraise SystemExit(3)\n```\n")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("status 3", out)

    def test_failure_inside_a_pipeline_fails(self):
        rc, out, _ = run("<!-- readme-check: run -->\n```sh\nfalse | cat\n```\n")
        self.assertNotEqual(rc, 0, out)

    def test_unmarked_shell_block_fails(self):
        md = "<!-- readme-check: run -->\n```sh\ntrue\n```\n\n```sh\ntrue\n```\n"
        rc, out, _ = run(md)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("README.md:6: ```sh block without", out)

    def test_unmarked_other_blocks_are_text(self):
        md = "<!-- readme-check: run -->\n```sh\ntrue\n```\n```go\nnot run\n```\n```\nplain\n```\n"
        rc, out, _ = run(md)
        self.assertEqual(rc, 0, out)

    def test_marker_without_block_fails(self):
        for md in ("<!-- readme-check: run -->\ntext\n```sh\ntrue\n```\n",
                   "<!-- readme-check: run -->\n```sh\ntrue\n```\n<!-- readme-check: run -->\n"):
            rc, out, _ = run(md)
            self.assertNotEqual(rc, 0, out)
            self.assertIn("marker not followed by a code block", out)

    def test_skip_needs_a_reason(self):
        md = "<!-- readme-check: run -->\n```sh\ntrue\n```\n<!-- readme-check: skip -->\n```sh\nx\n```\n"
        rc, out, _ = run(md)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("needs a reason", out)

    def test_nothing_to_run_fails(self):
        rc, out, _ = run("<!-- readme-check: skip: later -->\n```sh\ntrue\n```\n")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("no <!-- readme-check: run --> block", out)


if __name__ == "__main__":
    unittest.main()
