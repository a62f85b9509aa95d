# Data sets in MicroPython: every readout shape of the simulated meters' fixtures (the
# expected values are read off the fixture text by hand), and the parser's corner cases.
from meterlink.proto import iecdata
from meterlink.proto.iec62056 import IecError
from meterlink.proto.iecreadout import BlockReader, Collector
from checks import eq, raises

READOUTS = "tools/meterlink_tools/sim/readouts/"


def fixture(brand, glued=False):
    """(ident, data message bytes) framed here, independently of the simulator."""
    with open(READOUTS + brand + ".txt") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
    lines = [ln.replace("{serial}", "00012345") for ln in lines]
    body = "\r\n".join(lines[1:]) + ("!\r\n" if glued else "\r\n!\r\n")
    body = body.encode() + b"\x03"
    x = 0
    for b in body:
        x ^= b
    return lines[0], b"\x02" + body + bytes([x & 0x7F])


def read(brand, patterns=("*",), glued=False, chunk=64):
    ident, msg = fixture(brand, glued)
    c = Collector(iecdata.Selector(list(patterns)))
    r = BlockReader()
    for i in range(0, len(msg), chunk):
        if r.feed(msg[i:i + chunk], c.line) >= 0:
            break
    assert r.last and r.bcc_ok, brand
    c.commit()
    eq(c.bad_lines, 0)
    assert c.ended, brand
    return c.finish()


def test_luna_glued_end_and_max_demand():
    v = read("luna", glued=True)
    eq(v["1.8.0"], ("062846.236", "kWh"))
    eq(v["5.8.0"], ("001234.567", "kvarh"))
    eq(v["1.6.0"], ("000.060", "kW"))
    eq(v["1.6.0#2"], ("24-06-12,17:15", None))
    eq(v["1.8.0*2"], ("059871.442", "kWh"))
    eq(v["96.71#2"], ("01", None))
    eq(v["96.7.5"], ("0969", None))
    eq(v["96.7.5#2"], ("02:30:57", None))
    eq(v["73.7.0"], ("-1.00", None))


def test_makel_signs_blanks_and_comma_ranges():
    v = read("makel")
    eq(v["33.7.0"], ("+1.00", None))
    eq(v["53.7.0"], ("0.00", None))
    eq(v["0.8.0"], ("15", "min"))
    eq(iecdata.split_range(v["96.77.0*1"][0]), ("24-02-11,04:10", "24-02-11,04:55"))
    eq(iecdata.split_range(v["96.77.4*1"][0]), ("18-04-07,10:46", None))
    eq(v["0.0.0"], ("00012345", None))


def test_kohler_units_any_case_and_history_12():
    v = read("kohler")
    eq(v["5.8.0"], ("000045.300", "kvarh"))
    eq(v["1.8.0*12"], ("000100.000", "kWh"))
    eq(iecdata.history("1.8.0*12"), ("1.8.0", 12))
    eq(v["34.7.0"], ("50.01", "Hz"))


def test_viko_semicolon_ranges():
    v = read("viko")
    eq(iecdata.split_range(v["96.20.6"][0]), ("25-01-10,11:12", "25-01-10,11:30"))
    eq(iecdata.split_range(v["96.77.20"][0]), ("24-11-17,13:12:46", "24-11-17,13:20:01"))


def test_tedas2023_units_from_the_announcement():
    v = read("tedas2023")
    eq(v["32.7.0"], ("220.86", "V"))
    eq(v["31.7.0"], ("000.000", "A"))
    eq(v["14.7.0"], ("50.00", "Hz"))
    eq(v["33.7.0"], ("1.00", None))             # announced as '-': no unit
    eq(v["1.8.0"], ("000555.123", "kWh"))
    eq(v["F.F.0"], ("0000000000000000", None))
    eq(iecdata.split_range(v["96.20.6"][0]), ("00-00-00,00:00", None))


def test_iskra_full_obis_addresses():
    v = read("iskra", chunk=5)
    eq(v["1.8.0"], ("0033402.264", "kWh"))
    eq(v["C.1.0"], ("00012345", None))
    eq(v["F.F.0"], ("0000", None))
    eq(v["32.7.0"], ("230.1", "V"))


def test_landis_gyr_ff_and_ampersand_history():
    v = read("landisgyr")
    eq(v["F.F"], ("00000000", None))
    eq(v["1.8.1&04"], ("0011111.11", "kWh"))
    eq(iecdata.history("1.8.1&04"), ("1.8.1", 4))
    eq(v["5.8.0"], ("0000456.78", "kvarh"))


def test_default_selection():
    v = read("makel", patterns=iecdata.DEFAULT_SELECTION)
    for k in ("1.8.0", "1.8.3", "5.8.0", "8.8.0", "32.7.0", "31.7.0", "33.7.0", "14.7.0",
              "0.9.1", "0.9.2", "0.0.0"):
        assert k in v, k
    for k in ("1.6.0", "96.77.4*1", "0.8.0", "96.7.0"):
        assert k not in v, k
    v = read("iskra", patterns=iecdata.DEFAULT_SELECTION)
    assert "C.1.0" in v and "1.8.2" in v and "2.8.0" in v
    v = read("luna", patterns=["1.8.0*x", "1.8.x"], glued=True)
    eq(sorted(v), ["1.8.0", "1.8.0*1", "1.8.0*2", "1.8.1", "1.8.2", "1.8.3", "1.8.4"])


def test_selector_shares_key_objects():
    s = iecdata.Selector(["1.8.x", "0.9.1"])
    a = s.key(b"1.8.0".decode())
    b = s.key(b"1.8.0".decode())
    assert a is b
    assert s.key(b"0.9.1".decode()) is s.key("0.9.1")
    assert s.key("2.8.0") is None and not s("1.8.0*1")


def test_parse_line_forms():
    eq(iecdata.parse_line(b"1.8.0(1.5*kWh)2.8.0(0.0*kWh)"),
       ([("1.8.0", 1, "1.5", "kWh"), ("2.8.0", 1, "0.0", "kWh")], False))
    eq(iecdata.parse_line(b"(0033402.264*kWh)"), ([("", 1, "0033402.264", "kWh")], False))
    eq(iecdata.parse_line(b"0.9.1()"), ([("0.9.1", 1, "", None)], False))
    eq(iecdata.parse_line(b"33.7.0(- 1.00)")[0][0][2], "-1.00")
    eq(iecdata.parse_line(b"96.1.0(AB 12)")[0][0][2], "AB 12")
    eq(iecdata.parse_line(b"!"), ([], True))
    eq(iecdata.parse_line(b"1.8.0(1)!"), ([("1.8.0", 1, "1", None)], True))
    eq(iecdata.parse_line(b"1-0:1.8.0*255(1*KWH)")[0][0][3], "kWh")
    for bad in (b"1.8.0", b"1.8.0(1", b"1.8.0(1(2)", b"1.8.0(1)!x", b"1/8(1)", b"1.8.0(\x01)",
                b"A" * 40 + b"(1)", b"(1*" + b"u" * 20 + b")"):
        raises(IecError, iecdata.parse_line, bad)


def test_numbers_exact():
    eq(iecdata.decimal("062846.236"), (62846236, 3))
    eq(iecdata.decimal("-1.00"), (-100, 2))
    eq(iecdata.decimal("+0015"), (15, 0))
    eq(iecdata.decimal("12345678901234567890.123"), (12345678901234567890123, 3))
    for bad in ("", "-", "1.2.3", "12:00", "1e3", "."):
        eq(iecdata.decimal(bad), None)


def test_codes_and_units():
    eq(iecdata.code("1-0:1.8.0*255"), "1.8.0")
    eq(iecdata.code("0-0:C.1.0*255"), "C.1.0")
    eq(iecdata.code("1.8.1*1"), "1.8.1*1")
    eq(iecdata.history("1.8.0"), ("1.8.0", 0))
    eq(iecdata.unit("KVARH"), "kvarh")
    eq(iecdata.unit("kVArh"), "kvarh")
    eq(iecdata.unit("-"), None)
    eq(iecdata.unit("m3"), "m3")
    eq(iecdata.unit_announcement("32.7.0*V,33.7.0*-,14.7.0*hz"),
       {"32.7.0": "V", "33.7.0": None, "14.7.0": "Hz"})
    eq(iecdata.split_range("1"), None)
