"""The device configuration: code defaults with the JSON document on flash merged over them.

A document is checked as a whole (configschema) before it is used.  `load()` refuses a bad
`config.json`: it keeps it as `config.rejected.json` and goes back to the last good one, a
copy the device keeps (`config.good.json`, always written to a temporary name, then renamed).
"""
import json

from meterlink.proto import configschema

CONFIG_FILE = "config.json"
GOOD_FILE = "config.good.json"
REJECTED_FILE = "config.rejected.json"

DEFAULTS = {
    "version": 0,
    "server": {"url": "http://collector.invalid/ingest"},
    "apn": {"name": "internet", "user": "", "password": ""},
    "network": {"prefer": "auto"},      # auto (4G, then 2G) | 4g | 2g
    "modem": {"reg_timeout_s": 180, "fallback_after_s": 90, "retry_4g_min": 360,
              "session_wait_s": 120, "http_timeout_s": 90, "health_s": 60,
              "ntp_server": "pool.ntp.org", "dns_cache_s": 3600},
    "send_period_min": 15,              # 1..240
    "uplink": {"max_body": 8192, "content_type": "application/octet-stream", "retry_s": 60,
               "heartbeat_min": 60, "clock_tolerance_s": 5, "rollback_after": 3},
    "spool": {"share": 0.5, "batch_bytes": 3072, "seal_max_s": 900},
    "poll_period_s": 60,
    "ports": {
        # meters: IEC 62056-21 7E1 at a fixed rate on RS-485, sign-on at 300 Bd on the others
        "rs485": {"baudrate": 9600, "bits": 7, "parity": "E", "stop": 1, "idle_gap_ms": 200},
        "optical": {"baudrate": 300, "max_baudrate": 19200, "switch_delay_ms": 20},
        "rs232": {"baudrate": 300, "max_baudrate": 9600, "switch_delay_ms": 20},
    },
    "meters": [],
    "modbus": [],
    "alarms": {},
    "watchdog": {"timeout_ms": 60000, "start_delay_s": 30},
    "safe_mode": {"crash_boots": 3},
}

_INSTALLED = "installed"    # profiles=_INSTALLED: the profiles found next to the firmware


def merge(base, over):
    """A copy of `base` with `over` merged in; nested dicts merge, everything else replaces."""
    out = {}
    for k, v in base.items():
        out[k] = merge(v, {}) if isinstance(v, dict) else v
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


class ConfigError(ValueError):
    """A refused document; `errors` lists each problem as 'field: what is wrong'."""

    def __init__(self, errors, warnings=()):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.warnings = list(warnings)


def check(doc, profiles=_INSTALLED, warnings=None):
    """The merged configuration for the document `doc` (a dict); raises ConfigError.

    `profiles`: Modbus profile names (None: unchecked); warnings go to the list `warnings`.
    """
    if not isinstance(doc, dict):
        raise ConfigError(["config: the document must be a JSON object"])
    if profiles is _INSTALLED:
        profiles = configschema.profile_names()
    cfg = merge(DEFAULTS, doc)
    try:
        errors, found = configschema.validate(cfg, profiles, DEFAULTS)
    except Exception as e:   # noqa: BLE001  a checker bug must refuse the document, not crash
        errors, found = ["config: could not be checked (%r)" % e], []
    if errors:
        raise ConfigError(errors, found)
    if warnings is not None:
        warnings.extend(found)
    return cfg


def parse(text, profiles=_INSTALLED, warnings=None):
    """The configuration document in `text`, checked and merged over the defaults."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ConfigError(["config: not valid JSON (%s)" % e])
    return check(doc, profiles, warnings)


def _read(path, profiles):
    with open(path) as f:
        try:
            doc = json.load(f)
        except ValueError as e:
            raise ConfigError(["config: not valid JSON (%s)" % e])
    return check(doc, profiles)


def write_atomic(path, data):
    """Write a whole file so that a power cut leaves the old or the new content, never half."""
    import os
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.rename(tmp, path)


def _same_file(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x = fa.read(256)
                if x != fb.read(256):
                    return False
                if not x:
                    return True
    except OSError:
        return False


def copy_atomic(src, dst):
    """Copy a file the same way: `dst` is the old file or the whole new one."""
    import os
    tmp = dst + ".tmp"
    with open(src, "rb") as fs, open(tmp, "wb") as fd:
        while True:
            chunk = fs.read(256)
            if not chunk:
                break
            fd.write(chunk)
    os.rename(tmp, dst)


def install(text, path=CONFIG_FILE, profiles=_INSTALLED):
    """Check a new configuration document and make it the one on flash; returns the merged
    configuration.  Raises ConfigError (nothing written) if it is refused."""
    cfg = parse(text, profiles)
    write_atomic(path, text)
    return cfg


def load(path=CONFIG_FILE, profiles=_INSTALLED, good=GOOD_FILE, rejected=REJECTED_FILE):
    """(config, error): the configuration to run, and why config.json was refused (or None).

    No config.json: the defaults.  A good one: it, and the last-good copy is brought up to date.
    A bad one: it is renamed to `rejected`, the last good configuration is put back in its place
    and run (the defaults if there is none).
    """
    import os
    try:
        cfg = _read(path, profiles)
    except OSError:
        return merge(DEFAULTS, {}), None
    except ConfigError as e:
        err = "%s refused: %s" % (path, e)
    else:
        try:
            if not _same_file(path, good):
                copy_atomic(path, good)
        except OSError:
            pass    # a full flash: the configuration still runs, only the copy is old
        return cfg, None
    try:
        os.rename(path, rejected)
    except OSError:
        pass
    try:
        cfg = _read(good, profiles)
        copy_atomic(good, path)
        return cfg, err + "; running the last good configuration (version %s)" % cfg["version"]
    except (OSError, ConfigError):
        return merge(DEFAULTS, {}), err + "; running on the built-in defaults"
