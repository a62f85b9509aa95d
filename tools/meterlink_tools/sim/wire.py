"""Serial wires for the simulators: the far end of each firmware UART, with the physics.

Each firmware UART reaches an `RFC2217Port`: pyserial's `PortManager` decodes the Telnet
stream, so line settings, RTS and DTR arrive in order with the data.  The port sits on a
`Medium`, a point-to-point cable (optical probe, RS-232, modem) or an RS-485 bus, where:

- every character takes its time at its own line settings (start + data + parity + stop bits);
- a receiver whose settings differ from the sender's gets what its UART would make of it
  (same baud: the bits re-framed; other baud: garbage);
- a baud change while characters are still leaving turns the one on the wire into garbage and
  sends the rest at the new settings;
- on the bus the master drives only while DE (its RTS) is high: a master character sent with
  DE low never reaches the bus, a device character sent while DE is high collides (the devices
  get garbage, the master's disabled receiver nothing), and two talkers at once collide;
- received characters reach a UART in chunks of up to 120 (the ESP32 RX FIFO threshold),
  each when its last character has arrived.

Time is the event loop's (virtual time under simclock).  Devices subclass `Device`.
"""
import asyncio
import random

from serial import rfc2217

CHUNK = 120
EPS_US = 0.001
PARITY_BITS = {"N": 0, "E": 1, "O": 1}


class LineSettings:
    __slots__ = ("baudrate", "bytesize", "parity", "stopbits")

    def __init__(self, baudrate=9600, bytesize=8, parity="N", stopbits=1):
        self.baudrate = int(baudrate)
        self.bytesize = int(bytesize)
        self.parity = parity
        self.stopbits = stopbits

    @classmethod
    def parse(cls, text):
        """'9600 7E1' -> LineSettings(9600, 7, 'E', 1)."""
        baud, frame = text.split()
        return cls(int(baud), int(frame[0]), frame[1].upper(), int(frame[2]))

    def bits(self):
        return 1 + self.bytesize + PARITY_BITS[self.parity] + int(self.stopbits)

    def char_us(self):
        return self.bits() * 1_000_000 / self.baudrate

    def key(self):
        return (self.baudrate, self.bytesize, self.parity, int(self.stopbits))

    def copy(self):
        return LineSettings(self.baudrate, self.bytesize, self.parity, self.stopbits)

    def __eq__(self, other):
        return isinstance(other, LineSettings) and self.key() == other.key()

    def __repr__(self):
        return "%d %d%s%d" % (self.baudrate, self.bytesize, self.parity, int(self.stopbits))


def frame_bits(value, s):
    """The line levels of one character, start bit first."""
    bits = [0]
    data = [(value >> i) & 1 for i in range(s.bytesize)]
    bits += data
    if s.parity != "N":
        ones = sum(data)
        bits.append((ones & 1) if s.parity == "E" else 1 - (ones & 1))
    bits += [1] * int(s.stopbits)
    return bits


def reframe(value, sender, receiver, rng):
    """What a receiver UART makes of one character sent with other settings (list of bytes)."""
    if sender == receiver:
        return [value & ((1 << receiver.bytesize) - 1)]
    if sender.baudrate == receiver.baudrate:
        bits = frame_bits(value, sender) + [1] * 16
        data = bits[1:1 + receiver.bytesize]
        return [sum(b << i for i, b in enumerate(data))]
    ratio = sender.char_us() / receiver.char_us()
    if ratio >= 1.5:
        # a slow character seen by a fast UART: several broken characters
        return [rng.randrange(256) & ((1 << receiver.bytesize) - 1) for _ in range(int(ratio))]
    if ratio <= 0.66:
        # fast characters seen by a slow UART: one broken character now and then
        return [rng.randrange(256) & ((1 << receiver.bytesize) - 1)] if rng.random() < ratio else []
    return [rng.randrange(256) & ((1 << receiver.bytesize) - 1)]


class Symbol:
    __slots__ = ("value", "settings", "start", "end", "src", "garbled", "dropped", "de_hi")

    def __init__(self, value, settings, start, src):
        self.value = value
        self.settings = settings
        self.start = start
        self.end = start + settings.char_us()
        self.src = src
        self.garbled = False
        self.dropped = False
        self.de_hi = False      # the master's DE was high during this (device) character


class Endpoint:
    """Something that sends and receives on a medium: the master port or a device."""

    name = "?"
    settings = None

    def receive(self, data, t_us):
        """Characters arrived (already decoded with this endpoint's settings)."""


class Medium:
    """A point-to-point cable (bus=False) or an RS-485 bus (bus=True) in one event loop."""

    def __init__(self, loop=None, bus=False, echo=False, seed=1):
        self.loop = loop or asyncio.get_event_loop()
        self.bus = bus
        self.echo = echo                 # an optical probe that hears itself
        self.master = None               # the RFC2217Port on this medium
        self.devices = []
        self._free = {}                  # endpoint -> time its transmitter is idle
        self._pending_master = []        # master symbols not yet finished
        self._bursts = []                # [src, start, end] of recent transmissions
        self._de = [(0.0, 0)]            # (time, level) transitions of the master's DE
        self.rng = random.Random(seed)
        self.stats = {"collisions": 0, "garbled": 0, "dropped": 0}

    def now_us(self):
        return self.loop.time() * 1e6

    # -- attaching --

    def attach(self, device):
        self.devices.append(device)
        device.medium = self
        return device

    def detach(self, device):
        if device in self.devices:
            self.devices.remove(device)

    # -- the master's DE line (its RTS) --

    def set_de(self, level, t):
        if level != self._de[-1][1]:
            self._de.append((t, level))
            if len(self._de) > 64:
                del self._de[:32]

    def de_at(self, t):
        level = 0
        for tt, lv in self._de:
            if tt <= t:
                level = lv
            else:
                break
        return level

    def _de_range(self, a, b):
        """(was DE ever high, was DE ever low) during [a, b)."""
        hi = lo = False
        lv = self.de_at(a)
        hi, lo = lv == 1, lv == 0
        for tt, lv in self._de:
            if a < tt < b:
                hi = hi or lv == 1
                lo = lo or lv == 0
        return hi, lo

    # -- transmitting --

    def transmit(self, src, data, settings, t=None):
        """Queue characters from `src` (a device or the master port) starting no earlier than t."""
        if not data:
            return
        now = self.now_us()
        start = max(now if t is None else t, self._free.get(src, 0.0))
        syms = []
        for b in data:
            sym = Symbol(b, settings, start, src)
            syms.append(sym)
            start = sym.end
        self._free[src] = start
        burst = [src, syms[0].start, syms[-1].end]
        self._bursts.append(burst)
        if len(self._bursts) > 256:
            cut = now - 5_000_000
            self._bursts = [x for x in self._bursts if x[2] >= cut]
        if src is self.master:
            self._pending_master.extend(syms)
        for i in range(0, len(syms), CHUNK):
            chunk = syms[i:i + CHUNK]
            self.loop.call_at(chunk[-1].end / 1e6, self._deliver, chunk, burst)

    def free_at(self, src):
        return self._free.get(src, 0.0)

    def master_settings_changed(self, new, t):
        """The master re-configured its UART at t: the character on the wire breaks, the rest
        of its transmit FIFO goes out at the new settings."""
        pending = [s for s in self._pending_master if s.end > t]
        self._pending_master = pending
        if not pending:
            return
        start = t
        for s in pending:
            if s.start < t:
                s.garbled = True
                start = max(start, s.end)
            else:
                s.settings = new
                s.start = start
                s.end = start + new.char_us()
                start = s.end
        self._free[self.master] = max(start, t)
        for burst in self._bursts:
            if burst[0] is self.master and burst[2] > t:
                burst[2] = max(burst[2], start)

    # -- delivering --

    def _deliver(self, chunk, burst):
        now = self.now_us()
        late = [s for s in chunk if s.end > now + 0.5]
        if late:
            # re-timed by a settings change: deliver those when they are done
            ready = [s for s in chunk if s.end <= now + 0.5]
            self.loop.call_at(late[-1].end / 1e6, self._deliver, late, burst)
            chunk = ready
            if not chunk:
                return
        src = chunk[0].src
        if src is self.master:
            self._pending_master = [s for s in self._pending_master if s.end > now + 0.5]
        for s in chunk:
            self._judge(s)
        receivers = []
        if src is self.master:
            receivers.extend(self.devices)
            if self.echo:
                receivers.append(self.master)
        else:
            if self.master is not None:
                receivers.append(self.master)
            receivers.extend(d for d in self.devices if d is not src and self.bus)
        for r in receivers:
            out = bytearray()
            for s in chunk:
                if s.dropped:
                    continue
                if r is self.master and self.bus and src is not self.master and s.de_hi:
                    continue        # the master's receiver is off while DE is high
                if s.garbled:
                    out.append(self.rng.randrange(256) & ((1 << r.settings.bytesize) - 1))
                else:
                    out.extend(reframe(s.value, s.settings, r.settings, self.rng))
            if out:
                r.receive(bytes(out), now)

    def _judge(self, s):
        s.de_hi = False
        if not self.bus:
            return
        if s.src is self.master:
            hi, lo = self._de_range(s.start, s.end)
            if not hi:
                s.dropped = True
                self.stats["dropped"] += 1
                return
            if lo:
                s.garbled = True
        else:
            hi, _ = self._de_range(s.start, s.end)
            if hi:
                s.de_hi = True
                s.garbled = True
                self.stats["collisions"] += 1
        for src, a, b in self._bursts:
            # (a talker that starts the very microsecond another stops does not collide; the
            # margin absorbs float rounding of character times)
            if src is not s.src and a < s.end - EPS_US and b > s.start + EPS_US:
                # the other talker may have had its driver off (a master with DE low)
                if src is self.master and not self._de_range(max(a, s.start), min(b, s.end))[0]:
                    continue
                s.garbled = True
                self.stats["collisions"] += 1
                break
        if s.garbled:
            self.stats["garbled"] += 1


class Device(Endpoint):
    """A simulated device on a medium.  Subclasses implement `receive` and call `send`."""

    def __init__(self, name, settings):
        self.name = name
        self.settings = settings
        self.medium = None

    @property
    def loop(self):
        return self.medium.loop

    def now_us(self):
        return self.medium.now_us()

    def send(self, data, at_us=None):
        self.medium.transmit(self, data, self.settings, at_us)

    def busy_until(self):
        return self.medium.free_at(self)

    def on_control(self, line, level, t_us):
        """The master changed RTS or DTR (modem PWRKEY, power switch...)."""


class _RecordingSerial:
    """The serial object PortManager drives: settings changes become events in stream order."""

    def __init__(self, port):
        self._port = port
        self._s = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
        self.xonxoff = False
        self.rtscts = False
        self.cts = True
        self.dsr = True
        self.ri = False
        self.cd = True
        self._rts = False
        self._dtr = False
        self._brk = False

    def _set(self, k, v):
        self._port._flush_rx_data()
        self._s[k] = v
        self._port._line_changed(LineSettings(**self._s))

    baudrate = property(lambda self: self._s["baudrate"], lambda self, v: self._set("baudrate", v))
    bytesize = property(lambda self: self._s["bytesize"], lambda self, v: self._set("bytesize", v))
    parity = property(lambda self: self._s["parity"], lambda self, v: self._set("parity", v))
    stopbits = property(lambda self: self._s["stopbits"], lambda self, v: self._set("stopbits", v))

    def _ctl(self, name, v):
        self._port._flush_rx_data()
        self._port._control(name, bool(v))

    rts = property(lambda self: self._rts, lambda self, v: (setattr(self, "_rts", v), self._ctl("rts", v)))
    dtr = property(lambda self: self._dtr, lambda self, v: (setattr(self, "_dtr", v), self._ctl("dtr", v)))
    break_condition = property(lambda self: self._brk,
                               lambda self, v: (setattr(self, "_brk", v), self._ctl("break", v)))


class RFC2217Port(Endpoint, asyncio.Protocol):
    """The master's side of a medium: the TCP end of one firmware UART.

    Bytes counted here are what the virtual clock compares with the firmware's counts.
    """

    def __init__(self, medium, link_id, clock=None, name=None):
        self.medium = medium
        medium.master = self
        self.link_id = str(link_id)
        self.name = name or "uart%s" % link_id
        self.clock = clock
        self.settings = LineSettings()
        self.rts = False
        self.dtr = False
        self.transport = None
        self.counter = None
        self._rx_data = bytearray()
        self.events = []          # (t_us, kind, value) settings/control changes, for tests
        self.connected = asyncio.Event()
        self.server = None
        self.url = None

    async def serve(self):
        loop = self.medium.loop
        self.server = await loop.create_server(lambda: self, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = "rfc2217://127.0.0.1:%d" % port
        return self.url

    # -- asyncio.Protocol --

    def connection_made(self, transport):
        if self.transport is not None:
            self.transport.close()
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.clock is not None:
            self.counter = self.clock.link_counter(self.link_id)
        else:
            from ..simclock import LinkCounter
            self.counter = LinkCounter()
        self.settings = LineSettings()
        self._serial = _RecordingSerial(self)
        self.pm = rfc2217.PortManager(self._serial, self)
        self.connected.set()

    def connection_lost(self, exc):
        self.transport = None
        self.connected.clear()

    def data_received(self, data):
        self.counter.rx += len(data)
        for b in self.pm.filter(data):
            self._rx_data += b
        self._flush_rx_data()

    def write(self, data):
        """PortManager's own replies (already escaped)."""
        if self.transport is not None:
            self.counter.tx += len(data)
            self.transport.write(data)

    # -- from the firmware --

    def _flush_rx_data(self):
        if self._rx_data:
            data = bytes(self._rx_data)
            self._rx_data.clear()
            self.medium.transmit(self, data, self.settings.copy())

    def _line_changed(self, s):
        now = self.medium.now_us()
        if s != self.settings:
            self.events.append((now, "line", repr(s)))
            self.settings = s
            self.medium.master_settings_changed(s.copy(), now)

    def _control(self, name, level):
        now = self.medium.now_us()
        self.events.append((now, name, int(level)))
        if name == "rts":
            self.rts = level
            self.medium.set_de(int(level), now)
        elif name == "dtr":
            self.dtr = level
        for d in self.medium.devices:
            d.on_control(name, int(level), now)

    # -- to the firmware --

    def receive(self, data, t_us):
        if self.transport is not None:
            out = b"".join(self.pm.escape(data))
            self.counter.tx += len(out)
            self.transport.write(out)

    def close(self):
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.close()
