# Configuration schema cases shared by the MicroPython and the CPython tests: each case breaks
# one rule of docs/configuration.md in the documented example and names the field the error
# must name and a phrase the message must contain (written from the documentation, not from
# the checker's output).
import json

PROFILES = ["klemsan_rapidus", "eastron_sdm630"]


def doc_example(root="."):
    """The JSON example of docs/configuration.md."""
    with open(root + "/docs/configuration.md") as f:
        text = f.read()
    start = text.index("```json") + 7
    return json.loads(text[start:text.index("```", start)])


def copy(doc):
    return json.loads(json.dumps(doc))


def meter(i, port="rs485", address=None):
    m = {"id": "M%d" % i, "port": port}
    if address is not None:
        m["address"] = address
    return m


def modbus(i, address, port="rs485"):
    return {"id": "D%d" % i, "port": port, "address": address, "profile": "eastron_sdm630",
            "line": "9600 8N1"}


def _set(path, value):
    def f(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[keys[-1]] = value
    return f


def _meters(ms):
    def f(d):
        d["meters"] = ms
    return f


def _modbus(ms):
    def f(d):
        d["modbus"] = ms
    return f


def _drop(section, i, key):
    def f(d):
        del d[section][i][key]
    return f


# (name, mutation, field the error names, phrase in the message)
CASES = [
    ("send_period_too_short", _set("send_period_min", 0), "send_period_min", "1 to 240"),
    ("send_period_too_long", _set("send_period_min", 241), "send_period_min", "1 to 240"),
    ("send_period_as_text", _set("send_period_min", "15"), "send_period_min", "a number"),
    ("send_period_boolean", _set("send_period_min", True), "send_period_min", "a number"),
    ("version_negative", _set("version", -1), "version", "0 to"),
    ("version_fraction", _set("version", 1.5), "version", "an integer"),
    ("server_not_http", _set("server.url", "ftp://collector.example.com/"), "server.url", "http://"),
    ("server_no_host", _set("server.url", "http:///ingest"), "server.url", "host"),
    ("server_bad_port", _set("server.url", "http://c.example.com:99999/x"), "server.url", "port"),
    ("apn_with_space", _set("apn.name", "my apn"), "apn.name", "APN"),
    ("network_unknown", _set("network.prefer", "5g"), "network.prefer", "'auto'"),
    ("rs485_odd_baud", _set("ports.rs485.baudrate", 9601), "ports.rs485.baudrate", "9600"),
    ("rs485_six_bits", _set("ports.rs485.bits", 6), "ports.rs485.bits", "7, 8"),
    ("rs485_parity_word", _set("ports.rs485.parity", "even"), "ports.rs485.parity", "'E'"),
    ("optical_max_not_a_rate", _set("ports.optical.max_baudrate", 150),
     "ports.optical.max_baudrate", "one of"),
    ("rs232_max_below_start_rate", _set("ports.rs232.baudrate", 19200), "ports.rs232.max_baudrate",
     "lower than"),
    ("optical_echo_text", _set("ports.optical.echo", "no"), "ports.optical.echo", "true or false"),
    ("meters_not_list", _set("meters", {"id": "M1"}), "meters", "a list"),
    ("meter_port_unknown", _set("meters.0.port", "rs422"), "meters[0].port", "unknown port"),
    ("meter_without_id", _drop("meters", 0, "id"), "meters[0].id", "missing"),
    ("meter_address_too_long", _set("meters.0.address", "A" * 33), "meters[0].address", "32"),
    ("meter_address_symbol", _set("meters.0.address", "MSY/1"), "meters[0].address", "letters"),
    ("meter_readout_unknown", _set("meters.0.readout", "medium"), "meters[0].readout", "'short'"),
    ("meter_max_baud_not_iec", _set("meters.0.max_baudrate", 38400),
     "meters[0].max_baudrate", "19200"),
    ("meter_obis_not_text", _set("meters.0.obis", ["1.8.0", 18]), "meters[0].obis[1]", "OBIS"),
    ("meter_period_zero", _set("meters.0.period_s", 0), "meters[0].period_s", "1 to"),
    ("meters_sharing_need_addresses", _meters([meter(1, address="A1"), meter(2)]),
     "meters[1].address", "share"),
    ("meter_addresses_unique_per_line", _meters([meter(1, address="12345"), meter(2, address="12345")]),
     "meters[1].address", "already used"),
    ("meter_address_leading_zeros_same", _meters([meter(1, address="012345"), meter(2, address="12345")]),
     "meters[1].address", "already used"),
    ("thirty_three_meters_on_a_line",
     _meters([meter(i, address="S%d" % i) for i in range(33)]), "meters[32].port", "32"),
    ("modbus_address_zero", _set("modbus.0.address", 0), "modbus[0].address", "1 to 247"),
    ("modbus_address_248", _set("modbus.0.address", 248), "modbus[0].address", "1 to 247"),
    ("modbus_address_text", _set("modbus.0.address", "5"), "modbus[0].address", "an integer"),
    ("modbus_profile_unknown", _set("modbus.0.profile", "no_such_relay"),
     "modbus[0].profile", "unknown profile"),
    ("modbus_without_profile", _drop("modbus", 0, "profile"), "modbus[0].profile", "missing"),
    ("modbus_line_garbage", _set("modbus.0.line", "fast"), "modbus[0].line", "9600 8N1"),
    ("modbus_line_seven_bits", _set("modbus.0.line", "9600 7E1"), "modbus[0].line", "8 data bits"),
    ("modbus_line_parity", _set("modbus.0.line", "9600 8X1"), "modbus[0].line", "N, E or O"),
    ("modbus_retries_many", _set("modbus.0.retries", 6), "modbus[0].retries", "0 to 5"),
    ("modbus_timeout_short", _set("modbus.0.timeout_ms", 5), "modbus[0].timeout_ms", "20 to 10000"),
    ("modbus_gap_long", _set("modbus.0.gap_ms", 5000), "modbus[0].gap_ms", "0 to 2000"),
    ("modbus_addresses_unique_per_line", _modbus([modbus(1, 5), modbus(2, 5)]),
     "modbus[1].address", "already used"),
    ("modbus_id_clashes_with_meter", _set("modbus.0.id", "M1"), "modbus[0].id", "meters[0]"),
    ("two_hundred_forty_eight_modbus_devices",
     _modbus([modbus(i, 1 + i % 247) for i in range(247)] + [modbus(247, 9, port="rs232")]
             + [modbus(248, 10)]), "modbus[248].port", "247"),
    ("watchdog_short", _set("watchdog.timeout_ms", 10), "watchdog.timeout_ms", "1000 to"),
    ("crash_boots_zero", _set("safe_mode.crash_boots", 0), "safe_mode.crash_boots", "1 to"),
    ("ports_not_object", _set("ports", []), "ports", "an object"),
]

# Documents that are fine: (name, mutation)
GOOD = [
    ("the_example", lambda d: None),
    ("fractional_send_period", _set("send_period_min", 0.5 + 1)),
    ("one_meter_without_address", _meters([meter(1)])),
    ("meters_on_different_lines_same_address",
     _meters([meter(1, "rs485", "12345"), meter(2, "optical", "12345")])),
    ("32_meters", _meters([meter(i, address="S%d" % i) for i in range(32)])),
    ("247_modbus_devices", _modbus([modbus(i, 1 + i) for i in range(247)])),
    ("same_modbus_address_on_two_lines", _modbus([modbus(1, 5), modbus(2, 5, port="rs232")])),
    ("https_server", _set("server.url", "https://collector.example.com/ingest")),
    ("empty_apn", _set("apn.name", "")),
]


def run_case(check, error_type, base, mutate):
    """(errors, warnings) after applying mutate to a copy of base and checking it."""
    doc = copy(base)
    mutate(doc)
    warnings = []
    try:
        check(doc, PROFILES, warnings)
    except error_type as e:
        return e.errors, e.warnings
    return [], warnings


def expect_error(check, error_type, base, case):
    name, mutate, field, phrase = case
    errors, _ = run_case(check, error_type, base, mutate)
    hits = [e for e in errors if e.startswith(field + ": ") and phrase in e]
    assert hits, "%s: no error '%s: ...%s...' in %r" % (name, field, phrase, errors)
