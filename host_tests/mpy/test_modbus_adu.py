# MicroPython tests of RTU frames: CRC vectors, requests built with umodbus, finding the answer
# among stray bytes, and naming what went wrong.
from meterlink.drivers.modbus import adu
from meterlink.drivers.modbus.errors import ExceptionResponse


def test_crc_vectors_from_published_frames():
    # (frame without CRC, CRC bytes on the wire, low byte first)
    for body, crc in ((b"\x01\x03\x00\x00\x00\x0a", b"\xc5\xcd"),      # umodbus / common example
                      (b"\x08\x03\x00\x00\x00\x02", b"\xc4\x92"),      # umodbus issue #98
                      (b"\x01\x04\x00\x1f\x00\x32", b"\x40\x19"),      # KBR multicomp manual
                      (b"\x01\x83\x02", b"\xc0\xf1")):                 # an exception answer
        c = adu.crc16(body)
        assert bytes([c & 0xFF, c >> 8]) == crc, (body, c)
        assert adu.crc16(body + crc) == 0


def test_read_requests():
    assert adu.read_request(1, 3, 0, 10) == b"\x01\x03\x00\x00\x00\x0a\xc5\xcd"
    assert adu.read_request(1, 4, 0x1F, 0x32) == b"\x01\x04\x00\x1f\x00\x32\x40\x19"
    assert adu.read_request(8, 3, 0, 2) == b"\x08\x03\x00\x00\x00\x02\xc4\x92"
    for bad in ((3, 0, 126), (3, 0, 0), (7, 0, 1)):
        try:
            adu.read_request(1, *bad)
        except ValueError:
            pass
        else:
            raise AssertionError(bad)
    assert adu.read_answer_len(3, 20) == 45 and adu.read_answer_len(1, 9) == 7


def _answer(unit, fc, data):
    body = bytes([unit, fc, len(data)]) + data
    c = adu.crc16(body)
    return body + bytes([c & 0xFF, c >> 8])


def test_answer_found_after_stray_bytes_and_split_arrival():
    ans = _answer(5, 3, b"\x00\x01\x00\x02")
    buf = b"\x05\x00\xff" + ans + b"\x99"
    assert adu.find(buf, 5, 3, 9) == (3, 12, adu.OK)
    # not yet: the answer is still arriving
    assert adu.find(buf[:10], 5, 3, 9) == (-1, -1, adu.BEGUN)
    # the exception answer of the reference vector
    assert adu.find(b"\x00\x01\x83\x02\xc0\xf1", 1, 3, 25) == (1, 6, adu.OK)


def test_failures_are_named():
    ans = bytearray(_answer(5, 3, b"\x00\x01\x00\x02"))
    ans[-1] ^= 1
    assert adu.failure(ans, 5, 3, 9).kind == "crc"
    assert adu.find(ans, 5, 3, 9) == (-1, 9, adu.NONE)      # whole but bad: the answer ends there
    assert adu.find(ans[:8], 5, 3, 9) == (-1, -1, adu.BEGUN)
    other = _answer(6, 3, b"\x00\x01\x00\x02")
    e = adu.failure(other, 5, 3, 9)
    assert e.kind == "address" and "unit 6 answered" in str(e)
    assert adu.failure(b"\x13\x37\x42\x00\x00\x01", 5, 3, 9).kind == "frame"
    e = ExceptionResponse(5, 3, 2)
    assert e.kind == "exception" and e.name == "illegal data address" and "exception 2" in str(e)


def test_write_requests_and_confirmation():
    fc, req = adu.write_request(1, 0x10, [0x1234])
    assert fc == 6 and req[:6] == b"\x01\x06\x00\x10\x12\x34" and adu.crc16(req) == 0
    fc, req = adu.write_request(1, 0x10, [1, 2])
    assert fc == 16 and req[:7] == b"\x01\x10\x00\x10\x00\x02\x04" and adu.crc16(req) == 0
    assert adu.write_confirmed(6, b"\x00\x10\x12\x34", 0x10, [0x1234])
    assert not adu.write_confirmed(6, b"\x00\x10\x12\x35", 0x10, [0x1234])
    assert adu.write_confirmed(16, b"\x00\x10\x00\x02", 0x10, [1, 2])


def test_a_local_echo_is_skipped_once():
    req = adu.read_request(5, 3, 0, 2)
    ans = _answer(5, 3, b"\x00\x01\x00\x02")
    assert adu.find(req[:5], 5, 3, 9, req) == (-1, -1, adu.BEGUN)      # the echo is arriving
    assert adu.find(req, 5, 3, 9, req) == (-1, -1, adu.BEGUN)          # the answer is to come
    assert adu.find(req + ans, 5, 3, 9, req) == (8, 17, adu.OK)
    assert adu.echo_len(req + ans, 0, req) == 8 and adu.echo_len(ans, 0, req) == 0
    # FC 06: the answer is the request itself; with an echo the second copy is the answer
    fc, w = adu.write_request(5, 2, [7])
    assert adu.find(w, 5, 6, 8, w) == (-1, -1, adu.BEGUN)
    assert adu.find(w + w, 5, 6, 8, w) == (8, 16, adu.OK)
    assert adu.find(w, 5, 6, 8) == (0, 8, adu.OK)


def test_an_answer_with_another_byte_count_is_named():
    short = _answer(5, 3, b"\x00\x01")                 # one register where two were asked
    assert adu.find(short, 5, 3, 9) == (0, 7, adu.LENGTH)
    e = adu.failure(short, 5, 3, 9)
    assert e.kind == "length" and "2 data bytes, 4 asked for" in str(e)
    e = adu.failure(_answer(5, 3, b"\x00\x01\x00\x02")[:6], 5, 3, 9)
    assert e.kind == "frame" and "incomplete" in str(e)


def test_broadcast_and_out_of_range_units_are_refused():
    for unit in (0, 248, 255):
        try:
            adu.read_request(unit, 3, 0, 1)
        except ValueError as e:
            assert "1..247" in str(e)
        else:
            raise AssertionError(unit)
    from meterlink.drivers.modbus.errors import GATEWAY_CODES, RETRY_CODES
    assert 6 in RETRY_CODES and 11 in RETRY_CODES and 2 not in RETRY_CODES
    assert ExceptionResponse(1, 3, 11).name == "gateway target device failed to respond"
    assert 10 in GATEWAY_CODES
