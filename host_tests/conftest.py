"""Test collection for meterlink.

- host_tests/test_*.py: ordinary pytest tests in CPython (tools, simulators, and firmware on
  the host board driven through the simulators).
- host_tests/mpy/test_*.py: run inside the MicroPython unix port, never imported by CPython.
  Each `def test_*` / `async def test_*` is one pytest item; one MicroPython process runs all
  the tests of a file (selected ones only, when filtered).
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))

from meterlink_tools.hostboard import micropython_env, micropython_exe  # noqa: E402

MPY_DIR = HERE / "mpy"
MPY_HEAPSIZE = os.environ.get("METERLINK_MPY_TEST_HEAP", "2M")
MPY_TIMEOUT_S = 600


def pytest_pycollect_makemodule(module_path, parent):
    if Path(module_path).parent == MPY_DIR:
        return MpyFile.from_parent(parent, path=Path(module_path))
    return None


class MpyFile(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), str(self.path))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                yield MpyItem.from_parent(self, name=node.name)

    def results(self, wanted):
        cache = getattr(self, "_results", None)
        if cache is None:
            cache = self._results = self._run(wanted)
        return cache

    def _run(self, wanted):
        env = micropython_env(extra_paths=[MPY_DIR])
        env.pop("METERLINK_HOSTBOARD", None)
        cmd = [micropython_exe(), "-X", "heapsize=%s" % MPY_HEAPSIZE,
               str(HERE / "mpy_runner.py"), str(self.path)] + wanted
        p = subprocess.run(cmd, cwd=str(HERE.parent), env=env, capture_output=True,
                           timeout=MPY_TIMEOUT_S)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        results = {}
        current, buf = None, []
        for line in out.splitlines():
            if line.startswith("@@START "):
                current, buf = line.split()[1], []
            elif line.startswith("@@RESULT "):
                parts = line.split(None, 3)
                results[parts[1]] = (parts[2], "\n".join(buf), parts[3] if len(parts) > 3 else "")
                current = None
            elif current is not None:
                buf.append(line)
        if "@@IMPORT_ERROR" in out or (not results and wanted):
            for name in wanted:
                results.setdefault(name, ("FAIL", "MicroPython could not run %s:\n%s" % (self.path.name, out), ""))
        return results


class MpyItem(pytest.Item):
    def runtest(self):
        wanted = [i.name for i in self.session.items if isinstance(i, MpyItem) and i.parent is self.parent]
        status, output, reason = self.parent.results(wanted).get(
            self.name, ("FAIL", "no result from MicroPython (crashed?)", ""))
        if status == "SKIP":
            pytest.skip(reason or "skipped in MicroPython")
        if status != "PASS":
            raise MpyFailure(output)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MpyFailure):
            return "MicroPython test failed:\n" + str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, "mpy::%s" % self.name


class MpyFailure(Exception):
    pass
