"""The device configuration: code defaults with the JSON document on flash merged over them."""
import json

DEFAULTS = {
    "version": 0,
    "server": {"url": "http://collector.invalid/ingest"},
    "apn": {"name": "internet", "user": "", "password": ""},
    "network": {"prefer": "auto"},      # auto (4G, then 2G) | 4g | 2g
    "modem": {"reg_timeout_s": 180, "fallback_after_s": 90, "retry_4g_min": 360,
              "session_wait_s": 120, "http_timeout_s": 90, "health_s": 60,
              "ntp_server": "pool.ntp.org"},
    "send_period_min": 15,              # 1..240
    "uplink": {"max_body": 8192, "content_type": "application/octet-stream", "retry_s": 60,
               "heartbeat_min": 60, "clock_tolerance_s": 5},
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
    pass


def parse(text):
    """The configuration document in `text`, merged over the defaults."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ConfigError("config: not valid JSON (%s)" % e)
    if not isinstance(doc, dict):
        raise ConfigError("config: the document must be a JSON object")
    return merge(DEFAULTS, doc)


def load(path="config.json"):
    """(config, error): the defaults and an error message if the file is missing or bad."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return merge(DEFAULTS, {}), None
    try:
        return parse(text), None
    except ConfigError as e:
        return merge(DEFAULTS, {}), str(e)
