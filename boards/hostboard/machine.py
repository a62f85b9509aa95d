"""The host board's `machine`: the ESP32 API the firmware uses, on a PC.

UARTs are RFC 2217 links (see rfc2217.py); a pin named in the wiring's "pin_lines" is the
RTS or DTR line of a UART (the RS-485 DE/RE pin is its port's RTS), so it reaches the far end
in order with the data.  Every output pin change is written to the pin log with its time.
Resets end the process with an exit code the launcher turns into the next boot's reset cause.
"""
import io
import sys

import hostclock
import hostconf
import rfc2217

# Keep what the built-in machine module has (Signal's C version is not used: see below).
_path = sys.path
sys.path = ()
try:
    from machine import mem8, mem16, mem32  # noqa: F401
except ImportError:
    pass
finally:
    sys.path = _path
    del _path

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# process exit codes -> reset cause of the next boot (the launcher's side of this table is
# tools/meterlink_tools/hostboard.py)
EXIT_FOR_RESET = {HARD_RESET: 82, WDT_RESET: 83, DEEPSLEEP_RESET: 84, SOFT_RESET: 85}

_uart_links = {}   # uart id -> UART
_pins = {}         # pin id -> Pin
_rtc_memory = bytearray()
_flash_dev = None  # set by run.py: the LittleFS image, for its write count


def _clock():
    return hostclock.clock


def _save_state():
    """What survives a reset goes to the launcher on stdout (host files may be out of reach)."""
    import json
    t = hostclock.time
    state = {"rtc": t.time(), "rtc_memory": bytes(_rtc_memory).hex()}
    if hostclock.heap_probe:
        state["heap_peak"] = hostclock.heap_peak
        state["heap_base"] = hostclock.heap_base
    if _flash_dev is not None:
        state["flash_writes"] = _flash_dev.writes
    line = "@@STATE " + json.dumps(state)
    if hostconf.state_out:
        hostconf.state_out.write(line + "\n")
        hostconf.state_out.flush()
    else:
        print(line)


def _exit(code):
    _save_state()
    if hostconf.pin_log:
        hostconf.pin_log.flush()
    sys.exit(code)


def reset():
    _exit(EXIT_FOR_RESET[HARD_RESET])


def soft_reset():
    _exit(EXIT_FOR_RESET[SOFT_RESET])


def deepsleep(ms=0):
    _exit(EXIT_FOR_RESET[DEEPSLEEP_RESET])


def lightsleep(ms=0):
    hostclock.time.sleep_ms(ms)


def idle():
    c = _clock()
    c.wait(c.now_us() + 1000, ())


def reset_cause():
    return int(hostconf.conf.get("reset_cause", PWRON_RESET))


def wake_reason():
    return 0


def unique_id():
    return bytes.fromhex(hostconf.conf["unique_id"])


def freq(hz=None):
    return None if hz is not None else 240000000


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def _log_pin(name, value):
    if hostconf.pin_log:
        hostconf.pin_log.write("%d %s %s\n" % (_clock().now_us(), name, value))
        hostconf.pin_log.flush()


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __new__(cls, id, *args, **kw):
        p = _pins.get(id)
        if p is None:
            p = object.__new__(cls)
            p._id = id
            p._mode = None
            p._value = None
            _pins[id] = p
        return p

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if mode != -1:
            self._mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self._mode in (Pin.OUT, Pin.OPEN_DRAIN) and self._value is not None:
                return self._value
            return int(hostconf.input_level(self._id))
        v = 1 if v else 0
        if v != self._value:
            self._value = v
            _log_pin(self._id, v)
            line = hostconf.pin_line(self._id)
            if line:
                u = _uart_links.get(line[0])
                if u is not None:
                    u._apply_line(line[1], v)
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, **kw):
        return None

    def __repr__(self):
        return "Pin(%r)" % (self._id,)


class PWM:
    """LED blinking: the pin log shows "~<freq>" while a PWM drives the pin."""

    def __init__(self, dest, *, freq=1000, duty_u16=32768, duty_ns=None, invert=False):
        self._pin = dest
        self._freq = freq
        self._duty = duty_u16
        self._log()

    def _log(self):
        self._pin._value = None
        _log_pin(self._pin._id, "~%d" % self._freq if self._duty else 0)

    def init(self, *, freq=None, duty_u16=None, duty_ns=None):
        if freq is not None:
            self._freq = freq
        if duty_u16 is not None:
            self._duty = duty_u16
        self._log()

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._freq = value
        self._log()

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        self._duty = value
        self._log()

    def deinit(self):
        pass


class Signal:
    def __init__(self, pin, *args, invert=False):
        self._pin = pin
        self._invert = invert

    def value(self, v=None):
        if v is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if v else 0) ^ self._invert)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


_NOARG = object()


class UART(io.IOBase):
    """machine.UART as on the ESP32 port, backed by an RFC 2217 link."""

    INV_TX = 1
    INV_RX = 2
    INV_RTS = 4
    INV_CTS = 8
    RTS = 1
    CTS = 2
    IRQ_RX = 1
    IRQ_RXIDLE = 2
    IRQ_BREAK = 4

    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, **kw):
        url = hostconf.uart_url(id)
        if url is None and hostconf.conf.get("unwired_uarts") != "open":
            raise ValueError("UART(%r) is not wired on this host board" % (id,))
        old = _uart_links.get(id)
        if old is not None:
            old.deinit()
        self._id = id
        self._link = rfc2217.Link(url, id) if url else rfc2217.NullLink(id)
        self._baudrate = baudrate
        self._bits = bits
        self._parity = parity
        self._stop = stop
        self._timeout = 0
        self._timeout_char = 0
        self._rxbuf = 256
        self._tx_free_us = 0
        self.rx_overflows = 0
        _uart_links[id] = self
        _clock().links.append(self)
        for pid, p in _pins.items():
            line = hostconf.pin_line(pid)
            if line and line[0] == id and p._value is not None:
                self._apply_line(line[1], p._value)
        self.init(baudrate, bits, parity, stop, **kw)

    def init(self, baudrate=None, bits=None, parity=_NOARG, stop=None, *, tx=None, rx=None,
             rts=None, cts=None, txbuf=None, rxbuf=None, timeout=None, timeout_char=None,
             invert=None, flow=None):
        if baudrate is not None:
            self._baudrate = baudrate
        if bits is not None:
            if bits not in (5, 6, 7, 8):
                raise ValueError("invalid data bits")
            self._bits = bits
        if parity is not _NOARG:
            if parity not in (None, 0, 1):
                raise ValueError("invalid parity")
            self._parity = parity
        if stop is not None:
            if stop not in (1, 2):
                raise ValueError("invalid stop bits")
            self._stop = stop
        if rxbuf is not None:
            self._rxbuf = max(256, rxbuf)
        if timeout is not None:
            self._timeout = timeout
        if timeout_char is not None:
            self._timeout_char = timeout_char
        self._link.set_line(self._baudrate, self._bits, self._parity, self._stop)

    def deinit(self):
        if _uart_links.get(self._id) is self:
            del _uart_links[self._id]
        links = _clock().links
        if self in links:
            links.remove(self)
        self._link.close()

    def _apply_line(self, line, v):
        if line == "rts":
            self._link.set_control(rfc2217.CTRL_RTS_ON if v else rfc2217.CTRL_RTS_OFF)
        elif line == "dtr":
            self._link.set_control(rfc2217.CTRL_DTR_ON if v else rfc2217.CTRL_DTR_OFF)

    def _frame_bits(self):
        return 1 + self._bits + (0 if self._parity is None else 1) + self._stop

    def _char_us(self):
        return (self._frame_bits() * 1000000 + self._baudrate - 1) // self._baudrate

    def _pump(self):
        link = self._link
        before = len(link.rx)
        link.pump()
        over = len(link.rx) - self._rxbuf
        if over > 0 and len(link.rx) > before:
            # the ESP32 driver drops what does not fit in its ring buffer
            drop = min(over, len(link.rx) - before)
            link.rx[len(link.rx) - drop:] = b""
            self.rx_overflows += drop

    # -- what the host clock needs: the link's byte counts and the driver's receive --

    @property
    def link_id(self):
        return self._id

    @property
    def tx_count(self):
        return self._link.tx_count

    @property
    def rx_count(self):
        return self._link.rx_count

    @property
    def sock(self):
        return self._link.sock

    def pump(self):
        self._pump()

    # -- polling support for the host select --

    def _host_poll(self, mask):
        self._pump()
        ev = 0
        if mask & hostclock.POLLIN and (self._link.rx or self._link.closed):
            ev |= hostclock.POLLIN
        if mask & hostclock.POLLOUT:
            ev |= hostclock.POLLOUT
        return ev

    def _host_fd(self):
        return self._link.sock

    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL
            return self._host_poll(arg)
        return 0

    # -- stream API --

    def any(self):
        self._pump()
        return len(self._link.rx)

    def _wait_rx(self, timeout_ms, have):
        """Wait until more than `have` bytes are buffered or timeout_ms passes; False on timeout."""
        c = _clock()
        deadline = c.now_us() + timeout_ms * 1000
        while True:
            self._pump()
            if len(self._link.rx) > have:
                return True
            if c.now_us() >= deadline or self._link.closed:
                return False
            c.wait(deadline, (self._link.sock,))

    def read(self, n=-1):
        rx = self._link.rx
        self._pump()
        if n is None or n < 0:
            if not rx and not (self._timeout and self._wait_rx(self._timeout, 0)):
                return None
            if self._timeout_char:
                while self._wait_rx(self._char_timeout_ms(), len(rx)):
                    pass
            data = bytes(rx)
            rx[:] = b""
            return data
        if not rx and self._timeout:
            self._wait_rx(self._timeout, 0)
        if rx and self._timeout:
            while len(rx) < n and self._wait_rx(self._char_timeout_ms(), len(rx)):
                pass
        if not rx:
            return None
        data = bytes(rx[:n])
        rx[:n] = b""
        return data

    def _char_timeout_ms(self):
        # at least one character time, as on the ESP32 port
        return max(self._timeout_char, (self._char_us() + 999) // 1000)

    def readinto(self, buf, n=None):
        if n is None:
            n = len(buf)
        data = self.read(n)
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def readline(self):
        rx = self._link.rx
        self._pump()
        i = rx.find(b"\n")
        if i < 0 and self._timeout:
            if self._wait_rx(self._timeout, len(rx)):
                while rx.find(b"\n") < 0 and self._wait_rx(self._char_timeout_ms(), len(rx)):
                    pass
            i = rx.find(b"\n")
        if not rx:
            return None
        end = len(rx) if i < 0 else i + 1
        data = bytes(rx[:end])
        rx[:end] = b""
        return data

    def write(self, data):
        c = _clock()
        n = len(data)
        start = max(c.now_us(), self._tx_free_us)
        # rounded up: the last stop bit has surely left when flush() returns
        self._tx_free_us = start + (n * self._frame_bits() * 1000000 + self._baudrate - 1) // self._baudrate
        self._link.write(data)
        return n

    def flush(self):
        c = _clock()
        while c.now_us() < self._tx_free_us:
            c.wait(self._tx_free_us, ())

    def txdone(self):
        return _clock().now_us() >= self._tx_free_us

    def sendbreak(self):
        self.flush()
        self._link.set_control(rfc2217.CTRL_BREAK_ON)
        hostclock.time.sleep_us(13 * 1000000 // self._baudrate)
        self._link.set_control(rfc2217.CTRL_BREAK_OFF)

    def irq(self, handler=None, trigger=0, hard=False):
        raise NotImplementedError("UART.irq is not available on the host board")


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        self._timeout_us = timeout * 1000
        c = _clock()
        c.on_wdt = self._fire
        self.feed()

    def feed(self):
        c = _clock()
        c.wdt_deadline_us = c.now_us() + self._timeout_us

    def _fire(self):
        print("host board: watchdog timeout, resetting", file=sys.stderr)
        _exit(EXIT_FOR_RESET[WDT_RESET])


class RTC:
    def __init__(self, id=0):
        pass

    def datetime(self, dt=None):
        t = hostclock.time
        if dt is None:
            us = t._wall_us()
            tm = t.gmtime(us // 1000000)
            return (tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], us % 1000000)
        y, mo, d, _wd, h, mi, s, us = dt
        t.set_rtc(t.mktime((y, mo, d, h, mi, s, 0, 0)), us)
        return None

    def init(self, dt):
        self.datetime(dt)

    def memory(self, data=None):
        global _rtc_memory
        if data is None:
            return bytes(_rtc_memory)
        if len(data) > 2048:
            raise ValueError("RTC memory holds at most 2048 bytes")
        _rtc_memory = bytearray(data)


def _boot(conf):
    """Called by run.py once the clock is up: restore what survived the last reset."""
    global _rtc_memory
    hostclock.time.set_rtc(int(conf.get("rtc", 0)))
    mem = conf.get("rtc_memory")
    if mem and reset_cause() != PWRON_RESET:
        _rtc_memory = bytearray(bytes.fromhex(mem))
