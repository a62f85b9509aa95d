"""`meterlink vdev`: start a virtual device (see vdev.py) and print its pty."""
import signal
import sys
from pathlib import Path

from .cli import command
from .hostboard import DEFAULT_HEAPSIZE, ROOT
from .vdev import VirtualDevice


def _uart_arg(text):
    uid, sep, url = text.partition("=")
    if not sep or not uid.isdigit() or not url:
        raise ValueError("--uart wants ID=URL, e.g. 2=rfc2217://127.0.0.1:4000")
    return int(uid), url


@command("vdev", "a virtual device on a pty that mpremote and the tools can drive")
def main(args):
    rundir = Path(args.dir) if args.dir else ROOT / "build" / "vdev"
    rundir.mkdir(parents=True, exist_ok=True)
    if args.erase and (rundir / "flash.img").exists():
        (rundir / "flash.img").unlink()
    try:
        uarts = dict(_uart_arg(u) for u in args.uart)
    except ValueError as e:
        print("meterlink vdev: %s" % e, file=sys.stderr)
        return 2
    dev = VirtualDevice(rundir, uarts=uarts, heapsize=args.heapsize,
                        host_firmware=args.host_firmware,
                        log=lambda m: print("vdev: " + m, file=sys.stderr, flush=True),
                        echo=sys.stdout.buffer if args.echo else None)
    path = dev.open()
    if args.link:
        link = Path(args.link)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(path)
    print(path, flush=True)
    print("vdev: flash %s; try: mpremote connect %s exec \"print(42)\"" % (rundir / "flash.img", path),
          file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, dev.stop)
    signal.signal(signal.SIGINT, dev.stop)
    dev.serve()
    return 0


def _configure(p):
    p.add_argument("--dir", help="where the flash image and logs live (default build/vdev)")
    p.add_argument("--uart", action="append", default=[], metavar="ID=URL",
                   help="wire a UART to an RFC 2217 peer, e.g. 2=rfc2217://127.0.0.1:4000")
    p.add_argument("--heapsize", default=DEFAULT_HEAPSIZE, help="MicroPython heap (default %(default)s)")
    p.add_argument("--host-firmware", action="store_true",
                   help="run the working tree's firmware (mounted read-only) instead of the flash's")
    p.add_argument("--erase", action="store_true", help="start with a blank flash")
    p.add_argument("--echo", action="store_true", help="copy the device console to stdout")
    p.add_argument("--link", help="also make this symlink to the pty")


main.configure = _configure
