# Runs test functions of one file inside the MicroPython unix port and reports each result.
# Usage: micropython mpy_runner.py FILE [NAME ...]
# Output: "@@START name", the test's own output, then "@@RESULT name PASS|FAIL|SKIP", with a
# traceback before a FAIL.  Async tests run under asyncio.run.  The host board is set up in
# real-time mode first, so firmware code that imports `machine` works.
import sys

import hostconf
import hostclock

hostclock.setup(hostconf.conf)
hostclock.install()

import asyncio  # noqa: E402


class SkipTest(Exception):
    pass


def main():
    path = sys.argv[1]
    names = sys.argv[2:]
    g = {"__name__": "mpytest", "__file__": path, "SkipTest": SkipTest}
    with open(path) as f:
        src = f.read()
    try:
        exec(src, g)
    except Exception as e:   # noqa: BLE001
        print("@@IMPORT_ERROR")
        sys.print_exception(e)
        return
    for name in names:
        print("@@START", name)
        fn = g.get(name)
        try:
            if fn is None:
                raise NameError("no test named %s" % name)
            r = fn()
            if r is not None and hasattr(r, "send"):
                asyncio.run(r)
            print("@@RESULT", name, "PASS")
        except SkipTest as e:
            print("@@RESULT", name, "SKIP", e)
        except Exception as e:   # noqa: BLE001
            sys.print_exception(e)
            print("@@RESULT", name, "FAIL")


main()
