# IEC 62056-21 frames in MicroPython: BCC vectors from public sources, identification forms,
# option select, commands, answers, and the data message read block by block.
from meterlink.proto import iec62056 as iec
from meterlink.proto.iecreadout import BlockReader
from checks import eq, raises


# (frame without its BCC, BCC) - the verified vectors of the reference notes
BCC_VECTORS = (
    (b"\x01B0\x03", 0x71),
    (b"\x01R2\x020.0.0()\x03", ord("P")),
    (b"\x020.0.0(00000002)\x03", ord("0")),
    (b"\x01R2\x020.9.2()\x03", ord("[")),
    (b"\x020.9.2(13-12-12)\x03", ord(";")),
    (b"\x01P0\x02()\x03", ord("`")),
    (b"\x01R1\x021.8.0()\x03", ord("Z")),
    (b"\x01R1\x022.8.0()\x03", ord("Y")),
    (b"\x02(0033402.264*kWh)\x03", ord("T")),
    (b"\x01P0\x02(T9t4CNektA5fnzEG5w==)\x03", 0x7C),
    (b"\x01W2\x0296.96.3(09876543)\x03", 0x54),
    (b"\x01P0\x02(1234567)\x03", ord("P")),
    (b"\x01R2\x02P.01(;)\x03", 0x24),
    (b"\x01P1\x02(00000000)\x03", ord("a")),
)


def test_bcc_vectors():
    for frame, want in BCC_VECTORS:
        eq(iec.bcc(frame, 1), want)


def test_commands_and_break():
    eq(iec.BREAK, b"\x01B0\x03q")
    eq(iec.command("B0"), iec.BREAK)
    eq(iec.command("R2", "0.9.2()"), b"\x01R2\x020.9.2()\x03[")
    eq(iec.command("P1", "(00000000)"), b"\x01P1\x02(00000000)\x03a")
    eq(iec.parse_command(b"\x01P0\x02()\x03`"), ("P0", b"()"))
    eq(iec.parse_command(b"\x01B0\x03q"), ("B0", None))
    raises(iec.BccError, iec.parse_command, b"\x01B0\x03r")
    raises(iec.IecError, iec.command, "R")


def test_request_and_option_select():
    eq(iec.request(), b"/?!\r\n")
    eq(iec.request("MSY123456789"), b"/?MSY123456789!\r\n")
    raises(iec.IecError, iec.request, "A!B")
    raises(iec.IecError, iec.request, "1" * 33)
    eq(iec.option_select("5", iec.SHORT_READOUT), b"\x06056\r\n")
    eq(iec.option_select("0", iec.READOUT), b"\x06000\r\n")
    eq(iec.option_select("5", iec.PROGRAMMING), b"\x06051\r\n")
    eq(iec.char_of(19200), "6")
    eq(iec.baud_of("5"), 9600)
    eq(iec.baud_of("8"), None)


def test_identification_forms():
    i = iec.parse_ident(b"/MSY5<1>C500.KMY.2556\r\n")
    eq((i.flag, i.baud_char, i.mode, i.baud, i.generation, i.escape, i.ident),
       ("MSY", "5", "C", 9600, 1, None, "C500.KMY.2556"))
    eq(i.min_reaction_ms, 200)
    i = iec.parse_ident(b"/MAS5<3>VAN(M1.R1)")
    eq((i.generation, i.ident), (3, "VAN(M1.R1)"))
    i = iec.parse_ident(b"/ISk5\\2MT174-0001\r\n")
    eq((i.flag, i.escape, i.ident, i.min_reaction_ms), ("ISk", "2", "MT174-0001", 20))
    i = iec.parse_ident(b"/LGZ5\\2ZMD4054459.B40\r\n")
    eq((i.escape, i.ident, i.baud), ("2", "ZMD4054459.B40", 9600))
    i = iec.parse_ident(b"/AEL4<1>AEL.MF.14\r\n")
    eq((i.baud, i.mode), (4800, "C"))
    eq(iec.parse_ident(b"/XYZC1234\r\n").mode, "B")
    eq(iec.parse_ident(b"/XYZ:1234\r\n").mode, "A")
    eq(iec.parse_ident(b"/MKS6<2>ADM(M550.2251)\r\n").baud, 19200)
    eq(iec.parse_ident(b"/MKS7x\r\n").baud, 300)          # reserved: stays at 300
    for bad in (b"MSY5abc\r\n", b"/MS\r\n", b"/M1Y5abc\r\n", b"/MSY5a!b\r\n", b"/MSY5\x01b\r\n"):
        raises(iec.IecError, iec.parse_ident, bad)


def test_answers():
    eq(iec.parse_answer(b"\x06"), ("ack", None))
    eq(iec.parse_answer(b"\x15"), ("nak", None))
    eq(iec.parse_answer(b"\x020.0.0(00000002)\x030"), ("data", b"0.0.0(00000002)"))
    eq(iec.parse_answer(b"\x02(0033402.264*kWh)\x03T"), ("data", b"(0033402.264*kWh)"))
    err = b"(ERROR)\x03"
    kind, text = iec.parse_answer(b"\x02" + err + bytes([iec.bcc(err)]))
    eq((kind, text), ("error", "ERROR"))
    eq(iec.parse_answer(b"\x01P0\x02()\x03`"), ("command", ("P0", b"()")))
    raises(iec.BccError, iec.parse_answer, b"\x020.0.0(00000002)\x031")
    raises(iec.IecError, iec.parse_answer, b"garbage")


def test_message_end():
    eq(iec.message_end(b"\x06"), 1)
    eq(iec.message_end(b"\x020.0.0(1)\x03"), -1)
    eq(iec.message_end(b"\x020.0.0(1)\x03Xrest"), 11)
    eq(iec.message_end(b"\x01B0\x03q"), 5)
    eq(iec.message_end(b"junk"), -1)
    eq(iec.line_end(b"/MSY5\r\nX"), 7)


def frame(text, end=b"\x03"):
    body = text + end
    x = 0
    for b in body:
        x ^= b
    return b"\x02" + body + bytes([x & 0x7F])


def test_block_reader_whole_message_in_small_chunks():
    msg = frame(b"1.8.0(001.5*kWh)\r\n0.9.1(12:00:00)\r\n!\r\n")
    for size in (1, 2, 3, 7, 100):
        lines = []
        r = BlockReader()
        end = -1
        for i in range(0, len(msg), size):
            end = r.feed(msg[i:i + size], lambda ln: lines.append(bytes(ln)))
            if end >= 0:
                eq(i + end, len(msg))
                break
        eq(lines, [b"1.8.0(001.5*kWh)", b"0.9.1(12:00:00)", b"!"])
        assert r.last and r.block_ok and r.bcc_ok


def test_block_reader_bad_bcc_and_junk():
    msg = bytearray(frame(b"1.8.0(1)\r\n!\r\n"))
    msg[-1] ^= 1
    r = BlockReader()
    assert r.feed(bytes(msg), lambda ln: None) == len(msg)
    assert r.last and not r.block_ok
    r = BlockReader(junk_max=10)
    raises(iec.IecError, r.feed, b"x" * 11, lambda ln: None)
    r = BlockReader()
    eq(r.feed(b"\x06051\r\n" + frame(b"!\r\n"), lambda ln: None), 6 + 6)   # an echo before STX


def test_block_reader_partial_blocks_and_rewind():
    b1 = frame(b"1.8.0(1)\r\n2.8", b"\x04")
    b2 = frame(b".0(2)\r\n!\r\n")
    lines = []
    r = BlockReader()
    r.mark()
    eq(r.feed(b1, lambda ln: lines.append(bytes(ln))), len(b1))
    assert not r.last and r.block_ok
    r.mark()
    bad = bytearray(b2)
    bad[3] = ord("9")
    r.feed(bytes(bad), lambda ln: lines.append(bytes(ln)))
    assert not r.block_ok
    r.rewind()
    del lines[1:]
    r.feed(b2, lambda ln: lines.append(bytes(ln)))
    assert r.last and r.block_ok
    eq(lines, [b"1.8.0(1)", b"2.8.0(2)", b"!"])
