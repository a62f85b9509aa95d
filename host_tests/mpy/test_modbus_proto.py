# MicroPython tests of Modbus register decoding, profiles and the modbus[] config checks.
# Expected values are worked out by hand from IEEE 754 and two's complement.
import json

from meterlink.proto import mbline, mbprofile, mbvalue as mv


def test_integers_in_both_word_orders_and_signed():
    d = bytes([0x00, 0x01, 0xE2, 0x40])                  # 0x0001E240 = 123456
    assert mv.raw(d, 0, 2, mv.HIGH_FIRST) == 123456
    assert mv.raw(bytes([0xE2, 0x40, 0x00, 0x01]), 0, 2, mv.LOW_FIRST) == 123456
    assert mv.raw(bytes([0xFF, 0x38]), 0, 1, 0, signed=True) == -200
    assert mv.raw(bytes([0xFF, 0x38]), 0, 1, 0) == 0xFF38
    assert mv.raw(bytes([0xFF, 0xFF, 0xFF, 0xFE]), 0, 2, 0, signed=True) == -2
    # u64 5000000000 = 0x00000001_2A05F200, u48 over three registers
    assert mv.raw(bytes([0, 0, 0, 1, 0x2A, 0x05, 0xF2, 0x00]), 0, 4, 0) == 5000000000
    assert mv.raw(bytes([0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]), 0, 3, 0) == 0x123456789ABC
    assert mv.raw(bytes([0x9A, 0xBC, 0x56, 0x78, 0x12, 0x34]), 0, 3, 1) == 0x123456789ABC


def test_four_byte_orders():
    # 0x4366199A (230.1) as each kind of device sends it
    for order, data in ((0, b"\x43\x66\x19\x9a"), (1, b"\x19\x9a\x43\x66"),
                        (2, b"\x66\x43\x9a\x19"), (3, b"\x9a\x19\x66\x43")):
        assert mv.raw(data, 0, 2, order) == 0x4366199A, order
        assert mv.value(data, 0, "f32", order, None) == "230.1", order
    assert mv.raw(b"\x38\xff", 0, 1, 2, signed=True) == -200
    assert mv.raw(b"\xbc\x9a\x78\x56\x34\x12", 0, 3, 3) == 0x123456789ABC
    f = [{"key": o, "addr": 2 * i, "type": "f32", "order": o}
         for i, o in enumerate(("abcd", "cdab", "badc", "dcba", "high_first", "low_first"))]
    p = mbprofile.parse(_doc(f))
    assert [x[3] for x in mbprofile.fields(p.blocks[0])] == [0, 1, 2, 3, 0, 1]


def test_not_available_values():
    # all ones in a u32 counter, 0x8000 in a signed word, and NaN/inf floats read as None
    assert mv.value(b"\xff\xff\xff\xff", 0, "u32", 0, None, (0xFFFFFFFF,)) is None
    assert mv.value(b"\xff\xff\xff\xfe", 0, "u32", 0, None, (0xFFFFFFFF,)) == 0xFFFFFFFE
    assert mv.value(b"\xff\xff\xff\xff", 0, "u32", 0, None) == 4294967295    # a counter near its wrap
    assert mv.value(b"\xff\xff\xff\xff", 0, "s32", 0, None) == -1
    assert mv.value(b"\xff\xff\xff\xff", 0, "f32", 0, None) is None
    f = [{"key": "c", "addr": 0, "type": "s16", "na": [-32768, "0x7FFF"]},
         {"key": "e", "addr": 1, "type": "u32", "na": ["0xFFFFFFFF"], "scale": "0.1"}]
    p = mbprofile.parse(_doc(f))
    assert [x[7] for x in mbprofile.fields(p.blocks[0])] == [(0x8000, 0x7FFF), (0xFFFFFFFF,)]
    out = mbprofile.decode(p.blocks[0], b"\x80\x00\xff\xff\xff\xff", {})
    assert out == {"c": (None, None), "e": (None, None)}
    out = mbprofile.decode(p.blocks[0], b"\x7f\xfe\x00\x00\x00\x0c", {})
    assert out == {"c": (32766, None), "e": ("1.2", None)}
    _bad(_doc([{"key": "x", "addr": 0, "na": [65536]}]), ["na value 65536"])
    _bad(_doc([{"key": "x", "addr": 0, "na": 5}]), ["na must be a list"])
    _bad(_doc([{"key": "x", "addr": 0, "na": ["zz"]}]), ["na value"])


def test_a_block_is_read_in_parts():
    f = [{"key": "a", "addr": 10, "type": "f32"}, {"key": "b", "addr": 12, "type": "u16"},
         {"key": "c", "addr": 13, "type": "u32"}, {"key": "d", "addr": 15, "type": "u16"}]
    p = mbprofile.parse(_doc(f))
    b = p.blocks[0]
    assert mbprofile.span(b) == (10, 6)
    assert mbprofile.span(b, 0, 2) == (10, 3) and mbprofile.span(b, 2, 4) == (13, 3)
    assert mbprofile.span(b, 3, 4) == (15, 1)
    out = mbprofile.decode(b, b"\x00\x00\x00\x07\x00\x09", {}, 2, 4)
    assert out == {"c": (7, None), "d": (9, None)}
    # bits: span in coils, data bits from the part's first coil
    p = mbprofile.parse(_doc([{"key": "x", "addr": 3, "fc": 1}, {"key": "y", "addr": 9, "fc": 1}], max_gap=10))
    assert mbprofile.span(p.blocks[0], 1, 2) == (9, 1)
    assert mbprofile.decode(p.blocks[0], b"\x01", {}, 1, 2) == {"y": (1, None)}


def test_scaling_is_exact_decimal_text():
    assert mv.value(bytes([0x08, 0xFC]), 0, "u16", 0, mv.parse_scale("0.1")) == "230.0"   # 2300
    assert mv.value(bytes([0xFF, 0x38]), 0, "s16", 0, mv.parse_scale("0.001")) == "-0.200"
    assert mv.value(bytes([0, 1, 0xE2, 0x40]), 0, "u32", 0, mv.parse_scale("0.01")) == "1234.56"
    assert mv.value(bytes([0, 7]), 0, "u16", 0, mv.parse_scale(10)) == 70
    assert mv.value(bytes([0, 7]), 0, "u16", 0, None) == 7
    assert mv.value(bytes([0, 7]), 0, "u16", 0, mv.parse_scale("1e-3")) == "0.007"
    # a divisor that is not a power of ten rounds half away from zero: 18000000 Ws = 5 kWh
    assert mv.value(bytes([0x01, 0x12, 0xA8, 0x80]), 0, "u32", 0, mv.parse_scale("1/3600000", 4)) == "5.0000"
    assert mv.scaled(1800, 0, mv.parse_scale("1/3600000", 4)) == "0.0005"     # 0.0005 exactly
    assert mv.scaled(1799, 0, mv.parse_scale("1/3600000", 4)) == "0.0005"     # 0.00049972 rounds up
    assert mv.scaled(-1799, 0, mv.parse_scale("1/3600000", 4)) == "-0.0005"
    assert mv.parse_scale("1") is None and mv.parse_scale(None) is None


def test_float32_is_the_shortest_text_that_reads_back():
    # 230.1 = 0x4366199A (sign 0, exponent 134, mantissa 0x66199A)
    assert mv.value(bytes([0x43, 0x66, 0x19, 0x9A]), 0, "f32", 0, None) == "230.1"
    assert mv.value(bytes([0x19, 0x9A, 0x43, 0x66]), 0, "f32", 1, None) == "230.1"
    assert mv.value(bytes([0x3F, 0x73, 0x33, 0x33]), 0, "f32", 0, None) == "0.95"
    assert mv.value(bytes([0xC1, 0x48, 0, 0]), 0, "f32", 0, None) == "-12.5"
    assert mv.value(bytes([0x3F, 0x80, 0, 0]), 0, "f32", 0, None) == "1"
    assert mv.value(bytes([0, 0, 0, 0]), 0, "f32", 0, None) == "0"
    assert mv.value(bytes([0x3D, 0xCC, 0xCC, 0xCD]), 0, "f32", 0, None) == "0.1"
    # 0.1 kW -> W with scale 1000 stays exact
    assert mv.value(bytes([0x3D, 0xCC, 0xCC, 0xCD]), 0, "f32", 0, mv.parse_scale(1000)) == "100"
    assert mv.value(bytes([0x7F, 0xC0, 0, 0]), 0, "f32", 0, None) is None          # NaN
    assert mv.value(bytes([0x7F, 0x80, 0, 0]), 0, "f32", 0, None) is None          # +inf
    # 16777217 is not a float32: 0x4B800001 is 16777218
    assert mv.value(bytes([0x4B, 0x80, 0, 1]), 0, "f32", 0, None) == "16777218"


def _doc(fields, **kw):
    d = {"name": "t", "fields": fields}
    d.update(kw)
    return d


def test_neighbouring_registers_are_read_in_one_request():
    f = [{"key": "v%d" % i, "addr": 2 * i, "type": "f32"} for i in range(3)]
    f.append({"key": "e", "addr": 0x48, "type": "f32"})
    p = mbprofile.parse(_doc(f))
    assert [(b[0], b[1], b[2]) for b in p.blocks] == [(3, 0, 6), (3, 0x48, 2)]
    p = mbprofile.parse(_doc(f, max_gap=0x48 - 6))
    assert [(b[0], b[1], b[2]) for b in p.blocks] == [(3, 0, 0x4A)]
    assert [f[1] for f in mbprofile.fields(p.blocks[0])] == [0, 4, 8, 0x90]    # byte offsets


def test_a_block_never_exceeds_125_registers():
    f = [{"key": "r%d" % i, "addr": i, "type": "u16"} for i in range(300)]
    p = mbprofile.parse(_doc(f))
    assert [(b[1], b[2]) for b in p.blocks] == [(0, 125), (125, 125), (250, 50)]
    p = mbprofile.parse(_doc(f, max_regs=60))
    assert max(b[2] for b in p.blocks) == 60 and p.registers() == 300
    # a 32-bit value never straddles two requests
    f = [{"key": "r%d" % i, "addr": 2 * i, "type": "u32"} for i in range(63)]
    p = mbprofile.parse(_doc(f))
    assert [(b[1], b[2]) for b in p.blocks] == [(0, 124), (124, 2)]


def test_function_codes_form_separate_blocks():
    f = [{"key": "a", "addr": 0, "fc": 4}, {"key": "b", "addr": 1, "fc": 3},
         {"key": "c", "addr": 3, "fc": 1}, {"key": "d", "addr": 9, "fc": 1}]
    p = mbprofile.parse(_doc(f, max_gap=10))
    assert [(b[0], b[1], b[2]) for b in p.blocks] == [(1, 3, 7), (3, 1, 1), (4, 0, 1)]
    out = mbprofile.decode(p.blocks[0], bytes([0x01, 0x02]), {})     # bit 0 = coil 3, bit 6 = coil 9
    assert out == {"c": (1, None), "d": (0, None)}
    out = mbprofile.decode(p.blocks[0], bytes([0x40, 0x00]), {})
    assert out == {"c": (0, None), "d": (1, None)}


def test_relay_steps_and_alarm_flags_are_decoded():
    f = [{"key": "steps_on", "addr": 10, "type": "u16", "steps": {"count": 12, "key": "step_%d"}},
         {"key": "alarms", "addr": 11, "type": "u32", "order": "low_first",
          "flags": {"0": "alarm_undervoltage", "17": "alarm_overcurrent"}}]
    p = mbprofile.parse(_doc(f))
    assert len(p.blocks) == 1
    # steps 1, 3, 12 on = 0b1000_0000_0101; alarms bit 17 = 0x00020000, low word first
    data = bytes([0x08, 0x05, 0x00, 0x00, 0x00, 0x02])
    out = mbprofile.decode(p.blocks[0], data, {})
    assert out["steps_on"] == (0x805, None)
    on = [i for i in range(1, 13) if out["step_%d" % i][0]]
    assert on == [1, 3, 12]
    assert out["alarms"] == (0x20000, None)
    assert out["alarm_overcurrent"] == (1, None) and out["alarm_undervoltage"] == (0, None)


def test_units_are_kept_and_nan_reads_as_invalid():
    f = [{"key": "voltage_l1", "addr": 0, "type": "f32", "unit": "V"},
         {"key": "frequency", "addr": 2, "type": "u16", "scale": "0.01", "unit": "Hz"}]
    p = mbprofile.parse(_doc(f))
    out = mbprofile.decode(p.blocks[0], bytes([0x7F, 0xC0, 0, 0, 0x13, 0x88]), {})
    assert out == {"voltage_l1": (None, "V"), "frequency": ("50.00", "Hz")}


def _bad(doc, words):
    try:
        mbprofile.parse(doc)
    except mbprofile.ProfileError as e:
        for w in words:
            assert w in str(e), (w, str(e))
    else:
        raise AssertionError("accepted: %r" % doc)


def test_bad_profiles_are_refused_with_the_field_named():
    _bad(_doc([{"key": "x", "addr": 0, "type": "f33"}]), ["field 1 (x)", "unknown type"])
    _bad(_doc([{"key": "x", "addr": 0}, {"key": "x", "addr": 1}]), ["key x twice"])
    _bad(_doc([{"key": "x", "addr": 70000}]), ["addr"])
    _bad(_doc([{"key": "x", "addr": 0, "type": "f32", "steps": {"count": 3}}]), ["integer type"])
    _bad(_doc([{"key": "x", "addr": 0, "steps": {"count": 17}}]), ["steps.count"])
    _bad(_doc([{"key": "x", "addr": 0, "flags": {"16": "a"}}]), ["flag bit"])
    _bad(_doc([{"key": "x", "addr": 0, "scale": "abc"}]), ["bad scale"])
    _bad(_doc([{"key": "x", "addr": 0, "order": "middle"}]), ["order"])
    _bad(_doc([{"key": "x", "addr": 0, "fc": 1, "type": "u16"}]), ["type must be 'bit'"])
    _bad(_doc([]), ["no fields"])
    _bad(_doc([{"key": "s", "addr": 0, "steps": {"count": 2, "key": "s_%d"}},
               {"key": "s_2", "addr": 1}]), ["key s_2 twice"])


def test_line_settings_text():
    assert mbline.parse_line("9600 8N1") == (9600, 8, None, 1)
    assert mbline.parse_line("19200 8E1") == (19200, 8, 0, 1)
    assert mbline.parse_line("38400 8o2") == (38400, 8, 1, 2)
    for bad, word in (("9600 7E1", "8 data bits"), ("9601 8N1", "baud"), ("9600 8X1", "parity"),
                      ("9600", "expected"), ("9600 8N3", "stop")):
        try:
            mbline.parse_line(bad)
        except ValueError as e:
            assert word in str(e), (bad, str(e))
        else:
            raise AssertionError(bad)


def test_profiles_shipped_all_compile():
    import os
    import meterlink
    d = meterlink.__file__.rsplit("/", 1)[0] + "/profiles"
    names = [n for n in os.listdir(d) if n.endswith(".json")]
    assert len(names) >= 7, names
    for n in names:
        with open(d + "/" + n) as f:
            doc = json.load(f)
        p = mbprofile.parse(doc)
        assert p.name == n[:-5], (p.name, n)
        assert doc.get("source") and "unverified" in doc, n
        for b in p.blocks:
            assert b[2] <= 125
