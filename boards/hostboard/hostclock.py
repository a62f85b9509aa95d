"""Host board time: real time, or virtual time driven by the simulator's clock master.

In virtual mode time stands still while the firmware runs and moves only when every party
(this firmware process and the simulators) is waiting and every byte one of them sent has been
read by the other.  The master then jumps to the earliest deadline.  The firmware learns the
time from "A <us>" lines and reports "I <deadline_us|-> <link>:<tx>:<rx> ..." when it waits.

`install()` puts this module's `time` and `select` in sys.modules, so the frozen asyncio and the
firmware use them unchanged.
"""
import socket
import sys
import time as _rt
import select as _rs

_RealPoll = _rs.poll
POLLIN = _rs.POLLIN
POLLOUT = _rs.POLLOUT
POLLERR = _rs.POLLERR
POLLHUP = _rs.POLLHUP
POLLPRI = 2

# Virtual ticks start far away from the real ticks that _asyncio stamps on tasks it queues
# itself, so those always count as "due now" (ticks here wrap at 2**62).
VIRTUAL_TICKS_OFFSET_US = 1 << 50

EXIT_CLOCK_STALLED = 75
IPPROTO_TCP = 6   # Linux values; the unix port's socket module does not name them
TCP_NODELAY = 1


heap_probe = False
heap_peak = 0
heap_base = 0


def _probe_heap():
    """Live heap at an idle point (after a collection): what the firmware really holds."""
    global heap_peak
    import gc
    gc.collect()
    a = gc.mem_alloc()
    if a > heap_peak:
        heap_peak = a


class RealClock:
    virtual = False

    def __init__(self):
        self._t0 = _rt.ticks_us()
        self.links = []
        self.wdt_deadline_us = None
        self.on_wdt = None

    def now_us(self):
        return _rt.ticks_diff(_rt.ticks_us(), self._t0)

    def ticks_us(self):
        return _rt.ticks_us()

    def wait(self, deadline_us, objs):
        """Block until one of objs is readable or the clock reaches deadline_us (None: forever)."""
        if heap_probe:
            _probe_heap()
        wdt = self.wdt_deadline_us
        if wdt is not None:
            if wdt <= self.now_us() and self.on_wdt:
                self.on_wdt()
            if deadline_us is None or wdt < deadline_us:
                deadline_us = wdt
        p = _RealPoll()
        for o in objs:
            p.register(o, POLLIN)
        if deadline_us is None:
            return p.poll(-1)
        ms = (deadline_us - self.now_us() + 999) // 1000
        return p.poll(ms if ms > 0 else 0)


class VirtualClock:
    virtual = True

    def __init__(self, addr, token, guard_s=120):
        host, port = addr.rsplit(":", 1)
        ai = socket.getaddrinfo(host, int(port))[0][-1]
        self._sock = socket.socket()
        self._sock.connect(ai)
        self._sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        self._buf = b""
        self._now = None
        self._guard_ms = guard_s * 1000
        self.links = []
        self.wdt_deadline_us = None
        self.on_wdt = None
        self.on_quit = None
        self._send(b"H " + token.encode() + b"\n")
        self._sock.setblocking(False)
        while self._now is None:
            self._read_ctrl(block_ms=self._guard_ms)

    def now_us(self):
        return self._now

    def ticks_us(self):
        return VIRTUAL_TICKS_OFFSET_US + self._now

    def _send(self, data):
        mv = memoryview(data)
        while mv:
            try:
                n = self._sock.send(mv)
            except OSError as e:
                if e.errno == 11:
                    _RealPoll().poll(1)
                    continue
                raise
            mv = mv[n:]

    def _read_ctrl(self, block_ms=0):
        if block_ms:
            p = _RealPoll()
            p.register(self._sock, POLLIN)
            if not p.poll(block_ms):
                self._stalled()
        try:
            data = self._sock.recv(512)
        except OSError as e:
            if e.errno == 11:
                return
            raise
        if not data:
            print("host clock: the clock master went away", file=sys.stderr)
            sys.exit(EXIT_CLOCK_STALLED)
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            if line[:2] == b"A ":
                t = int(line[2:])
                if self._now is None or t > self._now:
                    self._now = t
            elif line == b"Q" and self.on_quit:
                self.on_quit()

    def _stalled(self):
        print("host clock: virtual time did not move for %d s of real time" % (self._guard_ms // 1000),
              file=sys.stderr)
        sys.exit(EXIT_CLOCK_STALLED)

    def _idle_line(self, deadline_us):
        parts = [b"I ", b"-" if deadline_us is None else str(deadline_us).encode()]
        for u in self.links:
            parts.append(b" %s:%d:%d" % (str(u.link_id).encode(), u.tx_count, u.rx_count))
        parts.append(b"\n")
        return b"".join(parts)

    def _pump_links(self):
        # what a UART driver does in its interrupt: move received bytes into the ring buffer
        for u in self.links:
            u.pump()

    def wait(self, deadline_us, objs):
        """Block until one of objs is readable, a UART received something, or the clock reaches
        deadline_us (None: no deadline).  Callers re-check their condition and call again."""
        if heap_probe:
            _probe_heap()
        while True:
            self._read_ctrl()
            wdt = self.wdt_deadline_us
            if wdt is not None and wdt <= self._now and self.on_wdt:
                self.on_wdt()
            if deadline_us is not None and deadline_us <= self._now:
                return []
            p = _RealPoll()
            for o in objs:
                p.register(o, POLLIN)
            linksocks = []
            for u in self.links:
                if u.sock not in objs:
                    p.register(u.sock, POLLIN)
                    linksocks.append(u.sock)
            ev = p.poll(0)
            if ev:
                self._pump_links()
                return ev
            d = deadline_us
            if wdt is not None and (d is None or wdt < d):
                d = wdt
            self._send(self._idle_line(d))
            p.register(self._sock, POLLIN)
            ev = p.poll(self._guard_ms)
            if not ev:
                self._stalled()
            mine = [e for e in ev if e[0] is not self._sock]
            if len(mine) != len(ev):
                self._read_ctrl()
            if mine:
                self._pump_links()
                return mine


clock = None


def setup(conf):
    global clock
    c = conf.get("clock")
    if c:
        clock = VirtualClock(c["addr"], c.get("token", "fw"), conf.get("wdt_real_guard_s", 120))
    else:
        clock = RealClock()
    return clock


# --- the `time` module the firmware sees ---------------------------------------------------

EPOCH_2000_TO_1970 = 946684800


class _Time:
    """ESP32-like `time`: ticks from the host clock, wall time from the RTC (epoch 2000)."""

    ticks_add = staticmethod(_rt.ticks_add)
    ticks_diff = staticmethod(_rt.ticks_diff)

    def __init__(self):
        self.rtc_base_s = 0      # RTC seconds (epoch 2000) at clock time 0
        self.rtc_base_us = 0

    def set_rtc(self, seconds_2000, us=0):
        now = clock.now_us()
        self.rtc_base_s = seconds_2000
        self.rtc_base_us = us - now

    def _wall_us(self):
        return self.rtc_base_s * 1000000 + self.rtc_base_us + clock.now_us()

    def ticks_us(self):
        return clock.ticks_us()

    def ticks_ms(self):
        return clock.ticks_us() // 1000

    def ticks_cpu(self):
        return clock.ticks_us()

    def sleep_us(self, us):
        end = clock.now_us() + us
        while clock.now_us() < end:
            clock.wait(end, ())

    def sleep_ms(self, ms):
        self.sleep_us(int(ms) * 1000)

    def sleep(self, s):
        self.sleep_us(int(s * 1000000))

    def time(self):
        return self._wall_us() // 1000000

    def time_ns(self):
        return self._wall_us() * 1000

    def gmtime(self, secs=None):
        if secs is None:
            secs = self.time()
        return _rt.gmtime(secs + EPOCH_2000_TO_1970)

    localtime = gmtime

    def mktime(self, t):
        return _rt.mktime(t) - EPOCH_2000_TO_1970


time = _Time()


# --- the `select` module the firmware (and asyncio) sees --------------------------------

class _Poll:
    """select.poll over host UARTs (which buffer decoded bytes) and plain sockets."""

    def __init__(self):
        self._entries = {}

    def register(self, obj, mask=POLLIN | POLLOUT):
        self._entries[id(obj)] = [obj, mask]

    def modify(self, obj, mask):
        self._entries[id(obj)][1] = mask

    def unregister(self, obj):
        self._entries.pop(id(obj), None)

    def _scan(self):
        """What is ready now, and what to wait on when nothing is."""
        ready = []
        waitobjs = []
        plain = None
        for obj, mask in self._entries.values():
            hp = getattr(obj, "_host_poll", None)
            if hp is None:
                if plain is None:
                    plain = _RealPoll()
                plain.register(obj, mask)
                waitobjs.append(obj)
                continue
            ev = hp(mask)
            if ev:
                ready.append((obj, ev))
            else:
                waitobjs.append(obj._host_fd())
        if plain is not None:
            ready.extend(plain.poll(0))
        return ready, waitobjs

    def poll(self, timeout=-1):
        deadline = None if timeout is None or timeout < 0 else clock.now_us() + timeout * 1000
        while True:
            ready, waitobjs = self._scan()
            if ready:
                return ready
            if deadline is not None and deadline <= clock.now_us():
                return []
            clock.wait(deadline, waitobjs)

    def ipoll(self, timeout=-1, flags=0):
        return self.poll(timeout)


class _Select:
    POLLIN = POLLIN
    POLLOUT = POLLOUT
    POLLERR = POLLERR
    POLLHUP = POLLHUP
    POLLPRI = POLLPRI
    poll = _Poll


select = _Select()


def install():
    sys.modules["time"] = time
    sys.modules["utime"] = time
    sys.modules["select"] = select
    sys.modules["uselect"] = select
