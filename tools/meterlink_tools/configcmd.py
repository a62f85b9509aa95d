"""`meterlink config`: check a configuration document with the firmware's own schema, show the
one on a device, and push one over USB (`--port`) or, through the collector, to a DEVICE."""
import sys

from .cli import command
from .collector.client import add_options
from .schema import PROFILES_DIR, configschema, fwconfig, tree_profiles  # noqa: F401  (shared)


def check_file(path, profiles, out=sys.stdout):
    """(text, merged config) if the file is a valid configuration, else None; says why."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        print("%s: %s" % (path, e.strerror), file=out)
        return None
    warnings = []
    try:
        cfg = fwconfig.parse(text, profiles, warnings)
    except fwconfig.ConfigError as e:
        for msg in e.errors:
            print("%s: %s" % (path, msg), file=out)
        for msg in e.warnings:
            print("%s: warning: %s" % (path, msg), file=out)
        print("%s: refused (%d error%s)" % (path, len(e.errors), "" if len(e.errors) == 1 else "s"),
              file=out)
        return None
    for msg in warnings:
        print("%s: warning: %s" % (path, msg), file=out)
    return text, cfg


def summary(cfg):
    return "version %s, %d meter%s, %d Modbus device%s, send period %s min" % (
        cfg["version"], len(cfg["meters"]), "" if len(cfg["meters"]) == 1 else "s",
        len(cfg["modbus"]), "" if len(cfg["modbus"]) == 1 else "s", cfg["send_period_min"])


def _profiles_arg(args):
    if args.profiles:
        return configschema.profile_names(args.profiles) or []
    return tree_profiles()


def validate(args):
    checked = check_file(args.file, _profiles_arg(args))
    if checked is None:
        return 1
    print("%s: OK (%s)" % (args.file, summary(checked[1])))
    return 0


def push_local(args, path):
    """Validate, write config.json through mpremote (temporary name, then rename), restart."""
    from .device import Device, DeviceError
    try:
        dev = Device(args.port)
    except DeviceError as e:
        print("meterlink config push: %s" % e, file=sys.stderr)
        return 1
    try:
        profiles = dev.profiles() if not args.profiles else _profiles_arg(args)
        if profiles is None:
            profiles = tree_profiles()
        checked = check_file(path, profiles)
        if checked is None:
            dev.close(restart=not args.no_restart)
            return 1
        dev.write_atomic("/config.json", checked[0].encode("utf-8"))
        print("%s -> %s:/config.json (%s)" % (path, args.port, summary(checked[1])))
        dev.close(restart=not args.no_restart)
        if not args.no_restart:
            print("the app restarted with it")
        return 0
    except DeviceError as e:
        print("meterlink config push: %s" % e, file=sys.stderr)
        dev.close(restart=False)
        return 1


def push_remote(args, device, path):
    """Validate, then queue the configuration at the collector for DEVICE: signed with its key,
    it rides on the answer to the device's next upload."""
    from .collector.client import BackendError, connect
    from .collector.manage_cli import report
    checked = check_file(path, _profiles_arg(args), out=sys.stderr)
    if checked is None:
        return 1
    try:
        backend = connect(args)
    except BackendError as e:
        print("meterlink config push: %s" % e, file=sys.stderr)
        return 1
    try:
        out = backend.push(device, checked[0], bump=args.bump)
    except BackendError as e:
        report("config push", e)
        return 1
    finally:
        backend.close()
    for msg in out["warnings"]:
        print("%s: warning: %s" % (path, msg), file=sys.stderr)
    print("%s -> %s at %s: version %d queued (%d B signed); it goes out in the answer to the "
          "device's next upload" % (path, device, backend.where, out["version"], out["bytes"]))
    print("follow it with: meterlink device show %s" % device)
    return 0


def cancel(args):
    from .collector.client import BackendError, connect
    try:
        backend = connect(args)
        try:
            backend.cancel(args.device, args.version)
        finally:
            backend.close()
    except BackendError as e:
        print("meterlink config cancel: %s" % e, file=sys.stderr)
        return 1
    print("configuration %d for %s cancelled" % (args.version, args.device))
    return 0


def push(args):
    targets = args.target
    if args.port:
        if len(targets) != 1:
            print("meterlink config push --port PORT FILE: one FILE", file=sys.stderr)
            return 2
        return push_local(args, targets[0])
    if len(targets) != 2:
        print("meterlink config push: give DEVICE FILE, or --port PORT FILE", file=sys.stderr)
        return 2
    return push_remote(args, targets[0], targets[1])


def show(args):
    from .device import Device, DeviceError
    try:
        dev = Device(args.port)
        try:
            data = dev.read("/config.json")
        finally:
            dev.close(restart=not args.no_restart)
    except DeviceError as e:
        print("meterlink config show: %s" % e, file=sys.stderr)
        return 1
    if data is None:
        print("%s has no config.json: it runs on the built-in defaults" % args.port)
        return 0
    sys.stdout.write(data.decode(errors="replace"))
    return 0


@command("config", "validate a configuration, show a device's, or push one to a device")
def main(args):
    return args.config_func(args)


def _configure(p):
    sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    v = sub.add_parser("validate", help="check a configuration file (exit 1 if it is refused)")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--profiles", metavar="DIR", help="Modbus profiles to accept (default: the tree's)")
    v.set_defaults(config_func=validate)
    s = sub.add_parser("show", help="print the config.json of the device on --port")
    s.add_argument("--port", required=True, help="serial port, pty or pyserial URL")
    s.add_argument("--no-restart", action="store_true", help="leave the app stopped")
    s.set_defaults(config_func=show)
    u = sub.add_parser("push", help="--port PORT FILE: over USB now; DEVICE FILE: through the collector",
                       usage="meterlink config push (--port PORT FILE | DEVICE FILE) [options]")
    u.add_argument("target", nargs="+", metavar="[DEVICE] FILE")
    u.add_argument("--port", help="push over this serial port, pty or pyserial URL")
    u.add_argument("--profiles", metavar="DIR",
                   help="Modbus profiles to accept (default: those installed on the device; "
                        "through the collector: the tree's)")
    u.add_argument("--no-restart", action="store_true", help="write it but leave the app stopped")
    u.add_argument("--bump", action="store_true",
                   help="through the collector: give the document the next free version")
    add_options(u)
    u.set_defaults(config_func=push)
    c = sub.add_parser("cancel", help="withdraw a queued configuration the device has not taken yet")
    c.add_argument("device", metavar="DEVICE")
    c.add_argument("version", metavar="VERSION", type=int)
    add_options(c)
    c.set_defaults(config_func=cancel)


main.configure = _configure
