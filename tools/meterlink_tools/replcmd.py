"""`meterlink repl` (mpremote's terminal on the device) and `meterlink logs` (the device's flash
log and, if the app was running, its recent lines from RAM)."""
import os
import subprocess
import sys

from .cli import command

LOG_FILES = ("/log.1.txt", "/log.txt")      # oldest first (services/log.py rotates log.txt)

RAM_LOG_CODE = """
import sys
_m = sys.modules.get('meterlink.services.log')
print(repr(_m.recent() if _m else None))
"""


def mpremote_exe():
    here = os.path.join(os.path.dirname(sys.executable), "mpremote")
    return here if os.path.exists(here) else "mpremote"


@command("repl", "open the device's REPL (mpremote); Ctrl-C stops the app, Ctrl-] leaves")
def repl(args):
    print("meterlink repl: %s; Ctrl-C stops the app, Ctrl-D restarts it, Ctrl-] or Ctrl-x leaves"
          % args.port, file=sys.stderr, flush=True)
    cmd = [mpremote_exe(), "connect", args.port, "repl"]
    if args.capture:
        cmd += ["--capture", args.capture]
    return subprocess.call(cmd)


def _repl_configure(p):
    p.add_argument("--port", required=True, help="serial port, pty or pyserial URL")
    p.add_argument("--capture", metavar="FILE", help="also write the session to FILE")


repl.configure = _repl_configure


@command("logs", "print the device's log: warnings, errors and boots kept on flash, recent lines")
def logs(args):
    from .device import Device, DeviceError
    try:
        # no soft reset: a running app keeps its RAM log until we have read it
        dev = Device(args.port, soft_reset=False)
    except DeviceError as e:
        print("meterlink logs: %s" % e, file=sys.stderr)
        return 1
    try:
        recent = dev.eval(RAM_LOG_CODE)
        flash = [dev.read(p) for p in LOG_FILES]
        if args.clear:
            for path, data in zip(LOG_FILES, flash):
                if data is not None:
                    dev.remove(path)
    except DeviceError as e:
        print("meterlink logs: %s" % e, file=sys.stderr)
        dev.close(restart=False)
        return 1
    dev.close(restart=not args.no_restart)
    text = b"".join(d for d in flash if d).decode(errors="replace")
    print("--- flash log (warnings, errors, boots; kept across resets) ---")
    print(text.rstrip("\n") if text else "(empty)")
    if recent is not None:
        print("--- recent lines of the app that was running (RAM) ---")
        print("\n".join(recent) if recent else "(none)")
    if args.clear:
        print("(flash log cleared)")
    return 0


def _logs_configure(p):
    p.add_argument("--port", required=True, help="serial port, pty or pyserial URL")
    p.add_argument("--clear", action="store_true", help="delete the flash log after reading it")
    p.add_argument("--no-restart", action="store_true", help="leave the app stopped")


logs.configure = _logs_configure
