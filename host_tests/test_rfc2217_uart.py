"""The host board's UART is an RFC 2217 client; pyserial's own RFC 2217 server (PortManager)
is the independent peer.  Line settings and RTS (the RS-485 DE pin) must reach it in order
with the data, and 0xFF must survive both ways."""
import asyncio
import socket
import threading

from serial import rfc2217

from hostboard_util import HostBoard, script


class Recorder:
    """The serial port PortManager drives; every change and byte lands in one ordered list."""

    def __init__(self):
        self.events = []
        self._s = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
        self.xonxoff = self.rtscts = False
        self.cts = self.dsr = self.cd = True
        self.ri = False
        self._rts = self._dtr = False

    def _setter(name):
        def get(self):
            return self._s[name]

        def set(self, v):
            self._s[name] = v
            self.events.append((name, v))
        return property(get, set)

    baudrate = _setter("baudrate")
    bytesize = _setter("bytesize")
    parity = _setter("parity")
    stopbits = _setter("stopbits")

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, v):
        self._rts = v
        self.events.append(("rts", v))

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, v):
        self._dtr = v
        self.events.append(("dtr", v))


class Server:
    def __init__(self, send):
        self.rec = Recorder()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.url = "rfc2217://127.0.0.1:%d" % self.lsock.getsockname()[1]
        self.send = send
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.lsock.accept()

        class W:
            def write(self, data):
                conn.sendall(data)

        pm = rfc2217.PortManager(self.rec, W())
        conn.sendall(b"".join(pm.escape(self.send)))
        while True:
            try:
                data = conn.recv(4096)
            except ConnectionResetError:   # the firmware process ended with replies unread
                break
            if not data:
                break
            for b in pm.filter(data):
                self.rec.events.append(("data", b))
        conn.close()


def coalesce(events):
    """Join neighbouring data bytes, drop repeated settings that did not change anything."""
    out = []
    for kind, v in events:
        if kind == "data" and out and out[-1][0] == "data":
            out[-1] = ("data", out[-1][1] + v)
        else:
            out.append((kind, v))
    return out


def test_settings_rts_and_0xff_reach_pyserial_in_order(tmp_path):
    server = Server(send=b"\xffA\xff\xffB\x00")
    hb = HostBoard(tmp_path, uarts={2: server.url}, script=script("rfc2217_order.py"), flash=False)

    async def go():
        await hb.boot()
        return await hb.wait()

    boot = asyncio.run(go())
    server.thread.join(5)
    assert boot.code == 0, "\n".join(boot.output)
    assert "RX ff41ffff4200" in boot.output
    ev = coalesce(server.rec.events)
    # drop the settings the UART re-sends unchanged on every init()
    flat = []
    state = {}
    for kind, v in ev:
        if kind in ("baudrate", "bytesize", "parity", "stopbits"):
            if state.get(kind) == v:
                continue
            state[kind] = v
        flat.append((kind, v))
    assert flat == [
        ("baudrate", 300), ("bytesize", 7), ("parity", "E"), ("stopbits", 1),
        ("rts", False),
        ("data", b"/?!\r\n"),
        ("rts", True),
        ("data", b"\xff\x01"),
        ("baudrate", 9600),
        ("data", b"AB"),
        ("rts", False),
        ("bytesize", 8), ("parity", "N"),
        ("data", b"\xff"),
    ]
