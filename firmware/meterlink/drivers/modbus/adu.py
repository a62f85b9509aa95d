"""RTU frames: requests built with umodbus' PDU functions, CRC-16/MODBUS from its table, and
the search for the answer in what the line delivered (stray bytes before it are skipped)."""
import struct
import sys

if "umodbus.typing" not in sys.modules:
    # umodbus.functions imports umodbus.typing, 12 KB of stand-in classes for annotations
    # that MicroPython never evaluates; these three names are all it takes from there
    class _NoTyping:
        List = Optional = Union = None
    sys.modules["umodbus.typing"] = _NoTyping

from umodbus import const as C  # noqa: E402
from umodbus import functions as F  # noqa: E402

from meterlink.drivers.modbus.errors import ModbusError  # noqa: E402

_TABLE = C.CRC16_TABLE
_READS = {C.READ_COILS: F.read_coils, C.READ_DISCRETE_INPUTS: F.read_discrete_inputs,
          C.READ_HOLDING_REGISTERS: F.read_holding_registers,
          C.READ_INPUT_REGISTER: F.read_input_registers}


def crc16(data, start=0, end=None):
    """CRC-16/MODBUS of data[start:end]; over a whole frame including its CRC it is 0."""
    crc = 0xFFFF
    for i in range(start, len(data) if end is None else end):
        crc = (crc >> 8) ^ _TABLE[(crc ^ data[i]) & 0xFF]
    return crc


def frame(unit, pdu):
    """The ADU: unit, PDU, CRC low byte first.  Only unicast units (1..247): a broadcast
    (unit 0) gets no answer, so it cannot be a read."""
    if not 1 <= unit <= 247:
        raise ValueError("unit must be 1..247, not %r" % (unit,))
    out = bytearray(len(pdu) + 3)
    out[0] = unit
    out[1:len(pdu) + 1] = pdu
    struct.pack_into("<H", out, len(pdu) + 1, crc16(out, 0, len(pdu) + 1))
    return out


def read_request(unit, fc, addr, count):
    """The request frame for reading `count` registers (FC 03/04) or bits (FC 01/02)."""
    build = _READS.get(fc)
    if build is None:
        raise ValueError("not a read function code: %r" % (fc,))
    return frame(unit, build(addr, count))


def write_request(unit, addr, values):
    """The request frame writing `values` (0..65535) from register `addr`: FC 06 for one
    value, FC 16 for more; its answer is 8 bytes."""
    if len(values) == 1:
        return C.WRITE_SINGLE_REGISTER, frame(unit, F.write_single_register(addr, values[0], False))
    return C.WRITE_MULTIPLE_REGISTERS, frame(unit, F.write_multiple_registers(addr, values, False))


def write_confirmed(fc, data, addr, values):
    """True when a write answer's data (after the function code) echoes the request."""
    if fc == C.WRITE_SINGLE_REGISTER:
        return F.validate_resp_data(data, fc, addr, value=values[0], signed=False)
    return F.validate_resp_data(data, fc, addr, quantity=len(values), signed=False)


def read_answer_len(fc, count):
    """The length of the answer frame to a read of `count` items."""
    data = (count + 7) // 8 if fc < 3 else 2 * count
    return 5 + data


# what find() says of the bytes received so far
OK = 0          # (start, end) is the answer (normal or exception)
NONE = 1        # nothing complete yet (end -1), or only a whole answer with a bad CRC (end)
BEGUN = 2       # an answer from the unit has begun and is not complete: worth waiting for
LENGTH = 3      # a sound answer with another byte count than asked for ends at `end`


def echo_len(buf, i, req):
    """How many bytes of the request's echo start at buf[i] (len(req): all of it; 0: none)."""
    k = min(len(buf) - i, len(req))
    for j in range(k):          # byte by byte: no slices to allocate on every call
        if buf[i + j] != req[j]:
            return 0
    return k


def find(buf, unit, fc, n, req=None):
    """(start, end, state) of the first sound answer from `unit` to function `fc` in buf (n
    bytes when normal, 5 for an exception); state OK then.  Skipped: bytes before it (noise,
    a late answer) and a copy of the request `req` (an adapter's local echo; give req only
    when the answer cannot be that copy).  Else (-1, end, NONE) with end -1 while nothing is
    complete, or the end of a whole answer with a bad CRC (it ends there); (-1, -1, BEGUN)
    while an answer (or the echo) is still arriving; (start, end, LENGTH) for a sound answer
    of another length than asked (a device that sends fewer or more registers)."""
    size = len(buf)
    efc = fc | 0x80
    bad = -1
    begun = False
    i = 0
    while i <= size - 2:
        if buf[i] == unit:
            if req is not None:
                e = echo_len(buf, i, req)
                if e == len(req):
                    i += e
                    req = None          # one echo: a second copy is the answer (FC 05/06)
                    begun = True        # the answer is still to come
                    continue
                if e and i + e == size:
                    return -1, -1, BEGUN
            f = buf[i + 1]
            end = -1
            other = False
            if f == fc:
                if fc > 4:
                    end = i + n
                elif i + 2 < size:
                    end = i + 5 + buf[i + 2]
                    other = end != i + n
                else:
                    begun = True
            elif f == efc:
                end = i + 5
            if end > 0:
                if end > size:
                    begun = True
                elif crc16(buf, i, end) == 0:
                    return i, end, (LENGTH if other else OK)
                elif bad < 0 and not other:
                    bad = end
        i += 1
    if bad < 0 and begun:
        return -1, -1, BEGUN
    return -1, bad, NONE


def failure(buf, unit, fc, n, req=None):
    """The error for an answer in which `find` found no frame."""
    start, _, state = find(buf, unit, fc, n, req)
    if state == LENGTH:
        return ModbusError("length", "unit %d: answer with %d data bytes, %d asked for"
                           % (unit, buf[start + 2], n - 5))
    efc = fc | 0x80
    for i in range(len(buf) - 1):
        if buf[i] == unit and (buf[i + 1] == fc or buf[i + 1] == efc):
            if req is not None and echo_len(buf, i, req):
                req = None
                continue
            want = n if buf[i + 1] == fc else 5
            if i + want > len(buf):
                return ModbusError("frame", "unit %d: incomplete answer (%d of %d bytes)"
                                   % (unit, len(buf) - i, want))
            return ModbusError("crc", "unit %d: answer with a bad CRC (%d bytes)" % (unit, len(buf)))
    # a sound frame of the expected shape from someone else
    for i in range(len(buf) - n + 1):
        if buf[i + 1] == fc and crc16(buf, i, i + n) == 0:
            return ModbusError("address", "unit %d asked, unit %d answered" % (unit, buf[i]))
    return ModbusError("frame", "unit %d: %d bytes that are no answer" % (unit, len(buf)))
