"""Virtual time for simulations: one clock for the simulators (this process) and the firmware.

The asyncio loop here runs on virtual time (`VirtualTimeLoop.time()`).  Firmware processes
on the host board connect to the `ClockMaster` and report when they wait ("I <deadline>
<link>:<tx>:<rx> ...").  Time moves only when this loop and every firmware are waiting and
every byte sent on every serial link has been read by the other side; it then jumps to the
earliest deadline.  So a simulated day takes the CPU time its work needs, and byte times,
reaction times and timeouts are exact whatever the machine's load.

`speed` caps virtual time at that many times real time (None: as fast as possible).

Blocking calls made from this loop (e.g. an HTTP request to the collector) take no virtual
time: the loop is busy, so the clock cannot move.
"""
import asyncio
import math
import selectors
import socket
import time

_CTRL = object()        # selector data marking the master's own sockets


class LinkCounter:
    """Bytes this side wrote to and read from one serial link (raw TCP bytes)."""

    def __init__(self):
        self.tx = 0
        self.rx = 0


class _Remote:
    def __init__(self, token):
        self.token = token
        self.sock = None
        self.buf = b""
        self.state = "starting"   # starting | busy | idle | gone
        self.deadline = None
        self.links = {}           # link id -> (tx, rx) as the firmware reported


class ClockStalled(RuntimeError):
    pass


class ClockMaster:
    def __init__(self, speed=None, guard_s=120.0):
        self.now_us = 0
        self.speed = speed
        self.guard_s = guard_s
        self.advances = 0
        self._real0 = time.monotonic()
        self._virt0 = 0
        self._remotes = {}        # token -> _Remote
        self._by_sock = {}
        self._bufs = {}
        self.links = {}           # link id -> LinkCounter of the current connection
        self._selector = None
        self._lsock = socket.socket()
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(8)
        self._lsock.setblocking(False)
        self.addr = "127.0.0.1:%d" % self._lsock.getsockname()[1]

    # -- participants --

    def expect(self, token):
        """A firmware process is about to start: time waits for it."""
        r = _Remote(token)
        self._remotes[token] = r
        return r

    def release(self, token):
        """The firmware process ended and nobody waits for it any more."""
        r = self._remotes.pop(token, None)
        if r is not None and r.sock is not None:
            self._close(r)

    def quit(self, token):
        """Ask a firmware process to exit (it saves its state and ends with code 0)."""
        r = self._remotes.get(token)
        if r is not None and r.sock is not None:
            r.state = "quitting"      # time waits for it to go
            try:
                r.sock.sendall(b"Q\n")
            except OSError:
                pass

    def link_counter(self, link_id):
        c = LinkCounter()
        self.links[link_id] = c
        return c

    # -- selector integration --

    def attach(self, selector):
        self._selector = selector
        selector.register(self._lsock, selectors.EVENT_READ, _CTRL)

    def _accept(self):
        while True:
            try:
                s, _ = self._lsock.accept()
            except BlockingIOError:
                return
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._selector.register(s, selectors.EVENT_READ, _CTRL)

    def _close(self, r):
        try:
            self._selector.unregister(r.sock)
        except (KeyError, ValueError):
            pass
        self._by_sock.pop(r.sock, None)
        r.sock.close()
        r.sock = None

    def _read(self, s):
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            r = self._by_sock.get(s)
            if r is not None:
                r.state = "gone"       # time stays frozen until the launcher releases it
                self._close(r)
            else:
                self._selector.unregister(s)
                self._by_sock.pop(s, None)
                s.close()
            self._bufs.pop(s, None)
            return
        buf = self._bufs.get(s, b"") + data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            self._handle(s, line)
        self._bufs[s] = buf

    def _handle(self, s, line):
        if line.startswith(b"H "):
            token = line[2:].decode()
            r = self._remotes.get(token)
            if r is None:
                r = self.expect(token)
            r.sock = s
            self._by_sock[s] = r
            r.state = "busy"
            s.sendall(b"A %d\n" % self.now_us)
            return
        r = self._by_sock.get(s)
        if r is None:
            return
        if line.startswith(b"I ") and r.state != "quitting":
            parts = line.split()
            r.deadline = None if parts[1] == b"-" else int(parts[1])
            r.links = {}
            for p in parts[2:]:
                lid, tx, rx = p.split(b":")
                r.links[lid.decode()] = (int(tx), int(rx))
            r.state = "idle"

    def _quiescent(self):
        for r in self._remotes.values():
            if r.state != "idle":
                return False
            for lid, (tx, rx) in r.links.items():
                c = self.links.get(lid)
                ctx, crx = (c.tx, c.rx) if c is not None else (0, 0)
                if tx != crx or rx != ctx:
                    return False
        return True

    def _next_deadline(self, local):
        best = local
        for r in self._remotes.values():
            if r.deadline is not None and (best is None or r.deadline < best):
                best = r.deadline
        return best

    def _advance(self, t):
        if t > self.now_us:
            self.now_us = t
        self.advances += 1
        msg = b"A %d\n" % self.now_us
        for r in self._remotes.values():
            if r.sock is not None:
                r.state = "busy"
                try:
                    r.sock.sendall(msg)
                except OSError:
                    r.state = "gone"

    def _allowed_us(self):
        if self.speed is None:
            return None
        return self._virt0 + int((time.monotonic() - self._real0) * 1e6 * self.speed)

    def describe(self):
        parts = ["now=%.3fs" % (self.now_us / 1e6)]
        for r in self._remotes.values():
            parts.append("%s:%s deadline=%s links=%s" % (r.token, r.state, r.deadline, r.links))
        for lid, c in self.links.items():
            parts.append("sim link %s tx=%d rx=%d" % (lid, c.tx, c.rx))
        return "; ".join(parts)

    def select(self, inner, timeout):
        """The loop's select: real events now, else advance virtual time when everyone waits."""
        events = self._filter(inner.select(0))
        if events or timeout == 0:
            return events
        local = None if timeout is None else self.now_us + max(1, math.ceil(timeout * 1e6 - 1e-3))
        last_progress = time.monotonic()
        while True:
            if self._quiescent():
                target = self._next_deadline(local)
                if target is None:
                    if not self._remotes:
                        # nothing else exists: wait for real events only
                        events = self._filter(inner.select(None if timeout is None else 1.0))
                        if events:
                            return events
                        continue
                    raise ClockStalled("every party waits forever: " + self.describe())
                allowed = self._allowed_us()
                if allowed is not None and target > allowed:
                    wait_s = (target - allowed) / 1e6 / self.speed
                    events = self._filter(inner.select(min(wait_s, 0.05)))
                    if events:
                        return events
                    continue
                self._advance(target)
                last_progress = time.monotonic()
                if local is not None and target >= local:
                    return []
            events = self._filter(inner.select(1.0))
            if events:
                return events
            if time.monotonic() - last_progress > self.guard_s:
                raise ClockStalled("virtual time stalled for %ds: %s" % (self.guard_s, self.describe()))

    def _filter(self, events):
        out = []
        for key, mask in events:
            if key.data is _CTRL:
                if key.fileobj is self._lsock:
                    self._accept()
                else:
                    self._read(key.fileobj)
            else:
                out.append((key, mask))
        return out


class VirtualSelector(selectors.BaseSelector):
    def __init__(self, master):
        self._inner = selectors.DefaultSelector()
        self._master = master
        master.attach(self._inner)

    def register(self, fileobj, events, data=None):
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._inner.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout=None):
        return self._master.select(self._inner, timeout)

    def close(self):
        self._inner.close()

    def get_key(self, fileobj):
        return self._inner.get_key(fileobj)

    def get_map(self):
        return self._inner.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, master):
        self.master = master
        super().__init__(selector=VirtualSelector(master))
        self._clock_resolution = 1e-6

    def time(self):
        return self.master.now_us / 1e6


def run(main, speed=None, virtual=True):
    """Run coroutine function main(master) on a virtual-time loop (or a real one)."""
    if not virtual:
        return asyncio.run(main(None))
    master = ClockMaster(speed=speed)
    loop = VirtualTimeLoop(master)
    try:
        return loop.run_until_complete(main(master))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
