"""Modbus RTU slaves on the simulated RS-485 bus, backed by pymodbus (its RTU framer, PDU
decoder and SimDevice datastore, in-process on the simulation's loop: no threads, no sockets)."""
# A slave hears every character on the bus at its own line settings, starts a new frame after
# t3.5 of silence, and answers requests for its unit `delay_ms` after their last character.
# Faults: "silent" (no answer), "crc" (CRC broken), "exception" (`exception_code`), "late"
# (after `late_ms`), "stray" (noise bytes just before the frame), "address" (the answer carries
# the next unit's address), "short" (a sound answer one register short).  Field behaviours, as
# options: `split_at`/`split_ms` (the answer pauses after that many bytes, like a gateway or a
# slow device), `holdoff_ms` (deaf for that long after its own answer: a request that starts
# sooner is ignored), `max_regs` (longer reads refused with `too_long_code`), `refuse` (register
# addresses the device lacks: a read over them is refused with exception 02).  Datastores are
# filled from profile files, which are data: no firmware code is imported.
import json
from decimal import Decimal
from pathlib import Path

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.exceptionresponse import ExceptionResponse
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from .wire import Device, LineSettings

PROFILE_DIR = Path(__file__).resolve().parents[3] / "firmware" / "meterlink" / "profiles"
FAULTS = (None, "silent", "crc", "exception", "late", "stray", "address", "short")

_PYMODBUS_TYPES = {"u16": DataType.UINT16, "s16": DataType.INT16, "u32": DataType.UINT32,
                   "s32": DataType.INT32, "f32": DataType.FLOAT32, "u64": DataType.UINT64,
                   "s64": DataType.INT64}
REGS = {"u16": 1, "s16": 1, "u32": 2, "s32": 2, "f32": 2, "u48": 3, "u64": 4, "s64": 4}


def load_profile(name):
    """A profile document (the JSON data file)."""
    return json.loads((PROFILE_DIR / (name + ".json")).read_text())


def profile_names():
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def encode(typ, value, order="high_first"):
    """The registers holding `value` (already raw, i.e. before the profile's scale), encoded by
    pymodbus' datastore types."""
    if typ == "u48":
        regs = [(value >> s) & 0xFFFF for s in (32, 16, 0)]
    else:
        regs = SimData(0, values=float(value) if typ == "f32" else int(value),
                       datatype=_PYMODBUS_TYPES[typ]).build_registers(False)
    return reorder(list(regs), order)


def reorder(regs, order):
    """Registers most significant first -> as a device with this word/byte order sends them.
    Orders by name or by the letters of a float's bytes (A the most significant)."""
    order = {"high_first": "abcd", "low_first": "cdab"}.get(order, order)
    if order in ("cdab", "dcba"):
        regs = regs[::-1]
    if order in ("badc", "dcba"):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    return list(regs)


def _run_now(coro):
    """Run a pymodbus datastore coroutine that never suspends (no action callback)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the datastore suspended")


class ModbusSlave(Device):
    """One Modbus RTU device on the bus; `registers` maps address -> 16-bit value."""

    def __init__(self, unit, registers, settings="9600 8N1", delay_ms=5.0, name=None):
        if isinstance(settings, str):
            settings = LineSettings.parse(settings)
        super().__init__(name or "slave%d" % unit, settings)
        self.unit = unit
        self.delay_ms = delay_ms
        self.fault = None
        self.fault_count = None          # None: every answer; N: the next N answers only
        self.exception_code = 4
        self.late_ms = 1500.0
        self.stray = b"\x00\xff\x21"
        self.split_at = None             # answers pause after this many bytes...
        self.split_ms = 0.0              # ...for this long
        self.holdoff_ms = 0.0            # deaf this long after its own answer
        self.max_regs = None             # reads of more registers are refused...
        self.too_long_code = 2           # ...with this exception code
        self.refuse = set()              # register addresses the device lacks (exception 02)
        self._deaf_until = 0.0
        self._deaf = False
        self.stats = {"requests": 0, "answers": 0, "faults": 0, "ignored": 0}
        self.log = []                    # (t_us, request function code, address, count)
        self._decoder = DecodePDU(is_server=True)
        self._framer = FramerRTU(self._decoder)
        self._buf = bytearray()
        self._last_end = None
        self.core = SimCore(SimDevice(id=unit, simdata=self._simdata(registers)))

    @staticmethod
    def _simdata(registers):
        data = []
        run = []
        for addr in sorted(registers):
            if run and addr != run[0] + len(run[1]):
                data.append(SimData(run[0], values=run[1], datatype=DataType.REGISTERS))
                run = []
            if not run:
                run = [addr, []]
            run[1].append(registers[addr] & 0xFFFF)
        if run:
            data.append(SimData(run[0], values=run[1], datatype=DataType.REGISTERS))
        return data

    # -- the datastore --

    def write(self, addr, regs):
        """Put register values into the datastore (through pymodbus' own write path)."""
        r = _run_now(self.core.async_setValues(self.unit, 16, addr, list(regs)))
        if r is not None:
            raise ValueError("datastore refused %d registers at %d: %r" % (len(regs), addr, r))

    def read(self, addr, count):
        return _run_now(self.core.async_getValues(self.unit, 3, addr, count))

    def set_value(self, field, value):
        """Store a raw value for a profile field (dict with addr, type, order)."""
        self.write(field["addr"], encode(field.get("type", "u16"), value, field.get("order", "high_first")))

    # -- the bus --

    def t35_us(self):
        if self.settings.baudrate > 19200:
            return 1750.0
        return 3.5 * self.settings.char_us()

    def receive(self, data, t_us):
        start = t_us - len(data) * self.settings.char_us()
        if self._last_end is None or start - self._last_end > self.t35_us():
            self._buf.clear()            # silence: a new frame begins
            self._deaf = self.holdoff_ms > 0 and start < self._deaf_until
        self._last_end = t_us
        if self._deaf:
            self.stats["ignored"] += 1
            return
        self._buf += data
        while self._buf:
            used, dev_id, _, pdu_bytes = self._framer.decode(bytes(self._buf))
            if not used:
                return
            del self._buf[:used]
            if not pdu_bytes:
                self.stats["ignored"] += 1
                continue
            if dev_id != self.unit:
                continue
            pdu = self._decoder.decode(pdu_bytes)
            if pdu is None:
                self.stats["ignored"] += 1
                continue
            pdu.dev_id = dev_id
            self.stats["requests"] += 1
            self.log.append((t_us, pdu.function_code, getattr(pdu, "address", None), getattr(pdu, "count", None)))
            self._answer(pdu, t_us)

    def _answer(self, pdu, t_us):
        fault = self.fault
        if fault is not None and self.fault_count is not None:
            if self.fault_count <= 0:
                fault = None
            else:
                self.fault_count -= 1
        if fault is not None:
            self.stats["faults"] += 1
        if fault == "silent":
            return
        count = getattr(pdu, "count", None)
        addr = getattr(pdu, "address", None)
        refused = None
        if fault == "exception":
            refused = self.exception_code
        elif pdu.function_code in (3, 4) and count is not None:
            if self.max_regs is not None and count > self.max_regs:
                refused = self.too_long_code
            elif any(addr <= a < addr + count for a in self.refuse):
                refused = 2
        if refused is not None:
            resp = ExceptionResponse(pdu.function_code, refused, device_id=self.unit)
        else:
            resp = _run_now(pdu.datastore_update(self.core, self.unit))
            resp.dev_id = self.unit
        if fault == "address":
            resp.dev_id = (self.unit % 247) + 1
        if fault == "short" and getattr(resp, "registers", None):
            resp.registers = resp.registers[:-1]
        frame = bytearray(self._framer.buildFrame(resp))
        if fault == "crc":
            frame[-1] ^= 0x5A
        elif fault == "stray":
            frame[:0] = self.stray
        delay_ms = self.late_ms if fault == "late" else self.delay_ms
        self.stats["answers"] += 1
        t = t_us + delay_ms * 1000
        if self.split_at:
            first, frame = bytes(frame[:self.split_at]), frame[self.split_at:]
            self.send(first, t)
            t += len(first) * self.settings.char_us() + self.split_ms * 1000
        self.send(bytes(frame), t)
        self._deaf_until = t + len(frame) * self.settings.char_us() + self.holdoff_ms * 1000


def raw_for(field, physical):
    """The raw register value that shows `physical` (a Decimal or text) through the field's
    scale: 230.1 V with scale 0.1 -> 2301."""
    scale = field.get("scale")
    v = Decimal(str(physical))
    if scale is not None:
        s = str(scale)
        if "/" in s:
            a, b = s.split("/")
            v = v * Decimal(b) / Decimal(a)
        else:
            v = v / Decimal(s)
    if field.get("type") == "f32":
        return float(v)
    return int(v.to_integral_value())


def registers_for(doc, values):
    """address -> register value for a profile document and {key: raw value}; registers in
    gaps the profile lets a read span (max_gap) are there too, as zeros."""
    regs = {}
    fc_fields = sorted(doc["fields"], key=lambda f: f["addr"])
    gap = doc.get("max_gap", 0)
    prev_end = None
    for f in fc_fields:
        n = REGS.get(f.get("type", "u16"), 1)
        if prev_end is not None and 0 < f["addr"] - prev_end <= gap:
            for a in range(prev_end, f["addr"]):
                regs.setdefault(a, 0)
        order = f.get("order", doc.get("order", "high_first"))
        raw = values.get(f["key"])
        if raw is None and f["addr"] not in regs:
            raw = 0
        if raw is not None:         # another view of a register already set keeps its value
            for i, r in enumerate(encode(f.get("type", "u16"), raw, order)):
                regs[f["addr"] + i] = r
        prev_end = max(prev_end or 0, f["addr"] + n)
    return regs


PLAUSIBLE = (("voltage_l1", "230.4"), ("voltage_l2", "229.8"), ("voltage_l3", "231.1"),
             ("voltage_l", "399.2"), ("voltage", "230.1"), ("current_n", "0.42"), ("current", "12.5"),
             ("reactive_power", "-812.5"), ("apparent_power", "2875.0"), ("power", "2750.5"),
             ("cos_phi", "0.96"), ("power_factor", "0.95"), ("frequency", "50.01"),
             ("thd", "3.2"), ("import", "12345.6"), ("export", "12.5"), ("inductive", "2345.6"),
             ("capacitive", "123.4"), ("total", "12358.1"), ("ct_ratio", "40"), ("steps_on", "37"),
             ("_switchings", "1520"), ("_hours", "8760"))


def plausible(field):
    """A value that looks right for a field's key (raw, before scaling)."""
    key = field["key"]
    for prefix, v in PLAUSIBLE:
        if prefix in key:
            return raw_for(field, v)
    return 0


def slave_for_profile(unit, profile, settings="9600 8N1", delay_ms=5.0, values=None):
    """A slave whose datastore holds `values` ({key: raw}; default: plausible ones)."""
    doc = load_profile(profile) if isinstance(profile, str) else profile
    vals = {f["key"]: plausible(f) for f in doc["fields"]}
    vals.update(values or {})
    s = ModbusSlave(unit, registers_for(doc, vals), settings, delay_ms, name="%s@%d" % (doc["name"], unit))
    s.profile = doc
    return s


def fields_by_key(doc):
    out = {}
    for f in doc["fields"]:
        g = dict(f)
        g.setdefault("order", doc.get("order", "high_first"))
        g.setdefault("fc", doc.get("fc", 3))
        out[f["key"]] = g
    return out

