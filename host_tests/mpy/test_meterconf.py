# The meters section of the configuration: bad entries are refused by name, the rest run.
from meterlink.proto import meterconf
from checks import eq


def check(meters):
    ok, errors = meterconf.check(meters)
    return [m["id"] for m in ok], errors


def test_good_entries_pass():
    ids, errors = check([{"id": "A", "port": "optical"},
                         {"id": "B", "port": "rs485", "address": "MSY1", "readout": "full",
                          "obis": ["1.8.x"], "overrides": {"reaction_timeout_ms": 3000}},
                         {"id": "C", "port": "rs485", "address": "MSY2", "period_s": 900}])
    eq((ids, errors), (["A", "B", "C"], []))


def test_each_bad_field_is_named():
    cases = [
        ({"port": "rs485"}, "meters[0].id"),
        ({"id": "A", "port": "usb"}, "meters[0].port"),
        ({"id": "A", "address": "MSY!1"}, "meters[0].address"),
        ({"id": "A", "readout": "long"}, "meters[0].readout"),
        ({"id": "A", "reaction_timeout_ms": -5}, "meters[0].reaction_timeout_ms"),
        ({"id": "A", "overrides": {"char_timeout_ms": "1s"}}, "meters[0].char_timeout_ms"),
        ({"id": "A", "max_baudrate": 14400}, "meters[0].max_baudrate"),
        ({"id": "A", "obis": "1.8.0"}, "meters[0].obis"),
        ("A", "meters[0]"),
    ]
    for entry, where in cases:
        ids, errors = check([entry])
        eq(ids, [])
        assert len(errors) == 1 and errors[0].startswith(where), (entry, errors)


def test_rs485_line_rules():
    # two meters on one line: both need an address; leading zeros do not make another meter
    ids, errors = check([{"id": "A", "address": "MSY1"}, {"id": "B"}])
    eq(ids, ["A"])
    assert "meters[1].address" in errors[0]
    ids, errors = check([{"id": "A", "address": "0012"}, {"id": "B", "address": "12"}])
    eq(ids, ["A"])
    assert "twice" in errors[0]
    ids, errors = check([{"id": "A"}])
    eq((ids, errors), (["A"], []))          # a single meter may be read with /?!
    many = [{"id": "M%d" % i, "address": "S%d" % i} for i in range(34)]
    ids, errors = check(many)
    eq(len(ids), 32)
    assert "at most 32" in errors[0]
    ids, errors = check([{"id": "A", "address": "1"}, {"id": "A", "address": "2"}])
    eq(ids, ["A"])
    assert "used twice" in errors[0]


def test_settings_precedence():
    # defaults < the port's section < the meter entry < its overrides
    from meterlink.drivers.iecmeter import resolve
    line = {"baudrate": 9600, "idle_gap_ms": 300, "reaction_timeout_ms": 2500}
    m = resolve({"id": "A", "char_timeout_ms": 1000, "reaction_timeout_ms": 2600,
                 "overrides": {"reaction_timeout_ms": 3000}}, line)
    eq((m["reaction_timeout_ms"], m["char_timeout_ms"], m["idle_gap_ms"], m["retries"], m["readout"]),
       (3000, 1000, 300, 1, "short"))
    eq(resolve({"id": "B"}, {})["reaction_timeout_ms"], 2200)
