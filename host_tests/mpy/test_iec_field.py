# How real meters answer, in MicroPython: captured identifications and readouts (fixtures in
# host_tests/fixtures/, described there) through the firmware's parser.  Expected values are
# read off the captures by hand.
from capture import load
from meterlink.proto import iec62056 as iec
from meterlink.proto import iecdata
from meterlink.proto.iecreadout import BlockReader, Collector
from checks import eq, raises


def framed(msg):
    # a capture's data message with its BCC appended (excerpts carry none)
    return msg + bytes([iec.bcc(msg, msg.find(b"\x02") + 1)])


def read(msg, patterns=("*",), chunk=7):
    c = Collector(iecdata.Selector(list(patterns)))
    r = BlockReader()
    for i in range(0, len(msg), chunk):
        if r.feed(msg[i:i + chunk], c.line) >= 0:
            break
    return r, c


def test_identifications_seen_in_the_field():
    # (line as received, flag, mode, baud, escape, generation, ident, reaction ms)
    cases = (
        (b"/AUX5\\2SX330RIFOMN\r\n", "AUX", "C", 9600, "2", None, "SX330RIFOMN", 200),
        (b"/APA5\\2NORAX30\r\n", "APA", "C", 9600, "2", None, "NORAX30", 200),
        (b"/ISk5MT174-0001\r\n", "ISk", "C", 9600, None, None, "MT174-0001", 20),
        (b"/MAS5<3>VAN(M1.R1)\r\n", "MAS", "C", 9600, None, 3, "VAN(M1.R1)", 200),
        (b"/AEL4<1>AEL.MF.14\n", "AEL", "C", 4800, None, 1, "AEL.MF.14", 200),
        (b"/KAM 685-382-QR-10\r\n", "KAM", "A", 300, None, None, "685-382-QR-10", 200),
        # a reserved baud digit: mode C, the line stays at 300 Bd
        (b"/MKS8<2>ADM\r\n", "MKS", "C", 300, None, 2, "ADM", 200),
        # wake-up noise before the '/': NUL, DEL, 0xFF, a stray CR LF
        (b"\x00\x00\x7f/MSY5<1>C500.KMY.2556\r\n", "MSY", "C", 9600, None, 1, "C500.KMY.2556", 200),
        (b"\xff\r\n\x00/LUN5<1>LUN.E.3P.T4\r\n", "LUN", "C", 9600, None, 1, "LUN.E.3P.T4", 200),
    )
    for line, flag, mode, baud, esc, gen, ident, tr in cases:
        i = iec.parse_ident(line)
        eq((i.flag, i.mode, i.baud, i.escape, i.generation, i.ident, i.min_reaction_ms),
           (flag, mode, baud, esc, gen, ident, tr))
    eq(iec.parse_ident(b"\x00/MSY5<1>C500\r\n").text, "/MSY5<1>C500")
    eq(iec.ident_start(b"\x00\x7f/MSY5"), 2)
    # other bytes before the '/' are not wake-up noise: no identification
    for bad in (b"x/MSY5<1>C500\r\n", b"\x15/MSY5<1>C500\r\n", b"\x00\x00\r\n"):
        eq(iec.ident_start(bad), -1)
        raises(iec.IecError, iec.parse_ident, bad)
    assert iec.is_noise(b"\x00\x7f\xff\r\n ") and not iec.is_noise(b"\x00A")


def test_optical_300_bd_capture_with_a_wrong_bcc_delivers_nothing():
    cap = load("iec_optical_300bd_bcc_off.cap")
    eq(cap[:6], b"\x06000\r\n")           # the option select, heard by the probe
    r, c = read(cap)
    assert r.last and not r.block_ok and not r.bcc_ok
    eq((cap[-1], iec.bcc(cap, 7, len(cap) - 1)), (0x75, 0x55))
    # what the lines hold (a session drops them: the BCC does not match)
    c.drop()
    eq(c.finish(), {})
    # the same data with a BCC that matches: every line but the NUL serial number reads
    r, c = read(framed(cap[6:-1]))
    assert r.bcc_ok
    c.commit()
    v = c.finish()
    eq(c.bad_lines, 1)                    # 0.0.0 of NUL bytes: a bad line, not a value
    assert "0.0.0" not in v
    eq(v["0.0.1"], ("001APAEA", None))
    eq(v["F.F"], ("00", None))
    eq(v["1.8.0*00"], ("007900.58", None))
    eq(iecdata.history("1.8.0*00"), ("1.8.0", 0))
    eq(v["C.2.1"], ("1107113C2E06", None))
    eq(v["C.2.1#2"], ("", None))          # 48 blanks: an empty value
    eq(v["0.2.2"], (":::::G11", None))
    assert c.ended


def test_tedas2023_unprogrammed_fields_spoil_only_their_lines():
    r, c = read(framed(load("iec_tedas2023_unprogrammed.cap")))
    assert r.last and r.bcc_ok and c.ended
    c.commit()
    eq(c.lines, 21)
    eq(c.bad_lines, 2)                    # 96.92.0 and 96.1.3: DEL bytes, not text
    v = c.finish()
    assert "96.92.0" not in v and "96.1.3" not in v
    eq(v["0.0.0"], ("000000002", None))
    eq(v["0.9.1"], ("16:53:57", None))
    eq(v["0.9.2"], ("26-02-06", None))
    eq(v["0.2.0"], ("V01.004", None))
    eq(v["131.7.0"], ("00000.0", "var"))  # VAr
    eq(v["15.7.0"], ("00000.0", "W"))
    eq(v["32.7.0"], ("224.79", "V"))
    eq(v["31.7.0"], ("000.000", "A"))
    eq(v["33.7.0"], ("1.00", None))       # announced as `*-` in 97.2.0
    eq(v["14.7.0"], ("49.7", "Hz"))
    eq(v["5.8.0"], ("000000.000", "kvarh"))
    eq(v["1.6.0#2"], ("00-00-00,00:00", None))
    eq(v["F.F.0"], ("0" * 64, None))
    eq(v["96.20.18"], ("82788", "min"))
    eq(iecdata.split_range(v["96.77.30*1"][0]), ("00-00-00,00:00:00", None))
    eq(iecdata.decimal(v["1.8.0"][0]), (0, 3))


def test_mode_a_data_lines_keep_decimal_commas_as_text():
    cap = load("iec_mode_a_comma.cap")
    k = cap.find(b"\n") + 1
    eq(iec.parse_ident(cap[:k]).mode, "A")
    r, c = read(framed(cap[k:]))
    c.commit()
    v = c.finish()
    eq(v["1.6"], ("000007,4", "kW"))
    eq(v["1.6*1"], ("000013,0", None))
    eq(v["1.31"], ("0160249", "h"))
    eq(iecdata.decimal("000007,4"), None)  # never read as 7 or 74
    assert c.ended


def test_data_line_shapes():
    p = iecdata.parse_line
    eq(p(b"0.9.1(123456)")[0], [("0.9.1", 1, "123456", None)])        # hhmmss, kept as sent
    eq(p(b"0.9.2(241123)")[0], [("0.9.2", 1, "241123", None)])
    eq(p(b"1.8.0()")[0], [("1.8.0", 1, "", None)])
    eq(p(b"1.8.0(ERROR)")[0], [("1.8.0", 1, "ERROR", None)])
    eq(p(b"P.01(2411230915)(00)(15)(2)(1.5)(kWh)")[0][5], ("P.01", 6, "kWh", None))
    eq(p(b"1.8.0(001234.5*KWH)")[0], [("1.8.0", 1, "001234.5", "kWh")])
    eq(p(b"32.7.0(230.1*v)")[0], [("32.7.0", 1, "230.1", "V")])
    eq(p(b"13.7.0(99.1*%)")[0], [("13.7.0", 1, "99.1", "%")])
    eq(p(b"1.8.0*12(000100.000*kWh)")[0], [("1.8.0*12", 1, "000100.000", "kWh")])
    eq(p(b"96.77.4*1(18-04-07,10:46,99-99-99,99:99)")[0][0][2], "18-04-07,10:46,99-99-99,99:99")
    # a line far longer than the 78 characters the standard asks for
    tariff = b"96.50(" + b"0600170022009999" * 8 + b")"
    eq(len(p(tariff)[0][0][2]), 128)
    # broken lines: a clean error, never a guess
    for bad in (b"1.8.0(12.3*kWh", b"1.8.0(12.3*kWh))", b"1.8.0(1(2)", b"\x001.8.0(1)",
                b"1.8.0(\x7f\x7f)"):
        raises(iec.IecError, p, bad)


def test_lf_line_ends_and_a_long_line():
    r, c = read(framed(b"\x020.0.0(42)\n1.8.0(000001.000*kWh)\n96.50("
                       + b"0600170022009999" * 8 + b")\n!\n\x03"))
    assert r.bcc_ok
    c.commit()
    v = c.finish()
    eq(v["1.8.0"], ("000001.000", "kWh"))
    eq(len(v["96.50"][0]), 128)
    eq(c.bad_lines, 0)


def test_an_error_message_instead_of_the_data():
    r, c = read(b"\x02(ERROR)\r\n\x03" + bytes([iec.bcc(b"(ERROR)\r\n\x03")]))
    assert r.bcc_ok
    eq(c.error_message(), "ERROR")
    # a register's own (ERROR) or a lone number is not an error message
    r, c = read(framed(b"\x021.8.0(ERROR)\r\n!\r\n\x03"))
    eq(c.error_message(), None)
    r, c = read(framed(b"\x02(0033402.264*kWh)\r\n!\r\n\x03"))
    eq(c.error_message(), None)


def test_a_readout_without_its_end_mark():
    # no `!` before ETX: the values count (the BCC vouches for them), the end is not claimed
    r, c = read(framed(b"\x020.0.0(7)\r\n1.8.0(000002.500*kWh)\r\n\x03"))
    assert r.last and r.bcc_ok and not c.ended
    c.commit()
    eq(c.finish()["1.8.0"], ("000002.500", "kWh"))
