"""`meterlink provision`: give a device its identity (secrets.json: device id and key) and its
uplink settings (APN and server in config.json), checked before anything is written."""
import getpass
import hashlib
import json
import sys

from .cli import command
from .configcmd import fwconfig, tree_profiles

SECRETS = "/secrets.json"
CONFIG = "/config.json"
ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def check_device_id(text):
    if not (0 < len(text) <= 32 and set(text) <= ID_CHARS):
        raise ValueError("device id: 1 to 32 letters, digits, '_', '-' or '.', got %r" % text)
    return text


def check_key(text):
    text = text.strip().lower()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("key: hexadecimal digits expected (as `meterlink device add` prints it)") from None
    if not 16 <= len(key) <= 64:
        raise ValueError("key: 16 to 64 bytes (32 to 128 hex digits), got %d bytes" % len(key))
    return text


def fingerprint(key_hex):
    return hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()[:8]


def _ask(label, secret=False):
    if not sys.stdin.isatty():
        return None
    read = getpass.getpass if secret else input
    return read("%s: " % label).strip() or None


def _load_json(data, what):
    if data is None:
        return {}
    try:
        doc = json.loads(data)
    except ValueError:
        raise ValueError("the device's %s is not valid JSON; fix or remove it first" % what) from None
    if not isinstance(doc, dict):
        raise ValueError("the device's %s is not a JSON object" % what)
    return doc


def plan(secrets, doc, args):
    """The new secrets and configuration documents, from the device's and the options."""
    secrets = dict(secrets)
    doc = json.loads(json.dumps(doc))
    device_id = args.device_id or (None if secrets.get("device_id") else _ask("device id"))
    if device_id:
        secrets["device_id"] = check_device_id(device_id)
    key = args.key or (None if secrets.get("key") else _ask("device key (hex)", secret=True))
    if key:
        secrets["key"] = check_key(key)
    for name in ("device_id", "key"):
        if not secrets.get(name):
            raise ValueError("the device has no %s yet: give --%s" % (name, name.replace("_", "-")))
    apn = doc.setdefault("apn", {})
    for opt, field in (("apn", "name"), ("apn_user", "user"), ("apn_password", "password")):
        if getattr(args, opt) is not None:
            apn[field] = getattr(args, opt)
    if args.server:
        doc.setdefault("server", {})["url"] = args.server
    return secrets, doc


@command("provision", "set a device's id and key (secrets.json) and its APN and server")
def main(args):
    from .device import Device, DeviceError
    try:
        dev = Device(args.port)
    except DeviceError as e:
        print("meterlink provision: %s" % e, file=sys.stderr)
        return 1
    restart = not args.no_restart     # also after a refusal: nothing was written
    try:
        secrets, doc = plan(_load_json(dev.read(SECRETS), "secrets.json"),
                            _load_json(dev.read(CONFIG), "config.json"), args)
        profiles = dev.profiles()
        fwconfig.check(doc, profiles if profiles is not None else tree_profiles())
        dev.write_atomic(SECRETS, (json.dumps(secrets) + "\n").encode())
        dev.write_atomic(CONFIG, (json.dumps(doc, indent=1) + "\n").encode())
    except fwconfig.ConfigError as e:
        for msg in e.errors:
            print("meterlink provision: config.json: %s" % msg, file=sys.stderr)
        return 1
    except ValueError as e:
        print("meterlink provision: %s" % e, file=sys.stderr)
        return 1
    except DeviceError as e:
        print("meterlink provision: %s" % e, file=sys.stderr)
        restart = False
        return 1
    finally:
        dev.close(restart=restart)
    print("provisioned %s: device %s, key %s... (sha256), APN %r, server %s" % (
        args.port, secrets["device_id"], fingerprint(secrets["key"]),
        doc.get("apn", {}).get("name", fwconfig.DEFAULTS["apn"]["name"]),
        doc.get("server", {}).get("url", fwconfig.DEFAULTS["server"]["url"])))
    if restart:
        print("the app restarted with it")
    return 0


def _configure(p):
    p.add_argument("--port", required=True, help="serial port, pty or pyserial URL")
    p.add_argument("--device-id", help="the id the collector knows the device by")
    p.add_argument("--key", help="the device key in hex (from `meterlink device add`)")
    p.add_argument("--apn", help="the SIM's access point name")
    p.add_argument("--apn-user", help="APN user name (usually empty)")
    p.add_argument("--apn-password", help="APN password (usually empty)")
    p.add_argument("--server", metavar="URL", help="the collector's ingest URL, http://host:port/path")
    p.add_argument("--no-restart", action="store_true", help="write it but leave the app stopped")
    p.epilog = "Options not given keep the device's current values; nothing is written unless all of it is valid."


main.configure = _configure
