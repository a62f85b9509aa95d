# The uplink inside MicroPython with a stand-in transport: a small collector double that keeps
# what it received and answers as docs/protocol.md says (signed, bound to the request's tag).
import ramfs
from meterlink.proto import envelope as ev
from meterlink.proto.auth import TAG_LEN, Hmac
from meterlink.proto.varint import get_uvarint, put_uvarint
from meterlink.services import log
from meterlink.services.spool import Spool
from meterlink.services.uplink import Uplink

log.flash_enabled = False
log.console_level = 3
KEY = b"k" * 32


class TransportDown(Exception):
    reason = "no_network"


class Clock:
    def __init__(self, now=1750000000, valid=True):
        self.t = now
        self.ok = valid
        self.source = "rtc" if valid else None
        self.sets = []

    def now(self):
        return self.t

    def valid(self):
        return self.ok

    def set(self, t, source):
        self.sets.append((t, source))
        d = t - self.t
        self.t, self.ok, self.source = t, True, source
        return d


class Leds:
    def __init__(self):
        self.state = {}

    def set(self, name, on):
        self.state[name] = on


def uv(v):
    b = bytearray(10)
    return bytes(b[:put_uvarint(b, 0, v)])


class StandIn:
    """Parses the envelope (magic, device, life, boot, req, status, batches, tag)."""

    def __init__(self, key=KEY, time=1750000100):
        self.key = key
        self.time = time
        self.stored = {}          # seq -> batch bytes
        self.order = []           # seqs as they were first stored
        self.bodies = []
        self.fail = 0             # raise before the server sees the request
        self.lose_answer = 0      # store, then raise (the answer is lost)
        self.ack_at_most = None   # partial acks
        self.refuse = ()          # seqs answered with 400
        self.resync = None        # (boot, req, seq) answered once with 409
        self.config = None
        self.answer_key = key
        self.last_req = (0, -1)

    def status(self):
        return {"registered": True, "tech": "4G", "operator": "Test Net", "csq": 20,
                "rssi_dbm": -73, "state": "ready", "sim": "ready", "last_error": None}

    def usage(self):
        return {"month": "2026-07", "up": 1234, "down": 567}

    def parse(self, body):
        p = 2
        n, p = get_uvarint(body, p)
        dev = bytes(body[p:p + n]).decode()
        p += n
        life, p = get_uvarint(body, p)
        boot, p = get_uvarint(body, p)
        req, p = get_uvarint(body, p)
        n, p = get_uvarint(body, p)
        p += n
        nb, p = get_uvarint(body, p)
        batches = []
        for _ in range(nb):
            seq, p = get_uvarint(body, p)
            n, p = get_uvarint(body, p)
            batches.append((seq, bytes(body[p:p + n])))
            p += n
        assert p == len(body) - TAG_LEN
        h = Hmac(self.key, memoryview(body)[:p])
        assert h.digest()[:TAG_LEN] == bytes(body[p:]), "request tag"
        return dev, (boot, req), batches

    def answer(self, tag, flags, ack, extra=b""):
        body = bytes((ev.ANS_MAGIC, 1, flags)) + uv(ack) + uv(self.time) + extra
        h = Hmac(self.answer_key, tag)
        h.update(body)
        return body + h.digest()[:TAG_LEN]

    async def http_post(self, url, body, content_type=None, into=None):
        body = bytes(body)
        assert content_type == "application/octet-stream"
        if self.fail:
            self.fail -= 1
            raise TransportDown()
        self.bodies.append(body)
        dev, rid, batches = self.parse(body)
        tag = body[-TAG_LEN:]
        if rid <= self.last_req:
            return 409, self.answer(tag, ev.ANS_RESYNC, 0, uv(self.last_req[0]) + uv(self.last_req[1]) + uv(0))
        if self.resync is not None:
            b, r, s = self.resync
            self.resync = None
            return 409, self.answer(tag, ev.ANS_RESYNC, 0, uv(b) + uv(r) + uv(s))
        if any(s in self.refuse for s, _ in batches):
            return 400, b"malformed\n"
        self.last_req = rid
        for seq, data in batches:
            if seq in self.stored:
                assert self.stored[seq] == data, "seq %d resent with other content" % seq
            else:
                self.stored[seq] = data
                self.order.append(seq)
        if self.lose_answer:
            self.lose_answer -= 1
            raise TransportDown()
        ack = batches[-1][0] if batches else 0
        if self.ack_at_most is not None and batches:
            ack = min(ack, self.ack_at_most)
        extra, flags = b"", 0
        if self.config is not None:
            extra, flags = uv(len(self.config)) + self.config, ev.ANS_CONFIG
            self.config = None
        return 200, self.answer(tag, flags, ack, extra)


def make(t=None, cfg=None, clock=None, **kw):
    root = ramfs.mount(48)
    sp = Spool(root=root + "/spool", batch_bytes=kw.pop("batch_bytes", 1024), clock=clock).open()
    c = {"server": {"url": "http://c/i"}, "send_period_min": 1, "version": 3}
    c.update(cfg or {})
    leds = Leds()
    got = []
    up = Uplink(sp, c, "dev-1", KEY, transport=t or StandIn(), clock=clock or Clock(), leds=leds,
                on_config=got.append, **kw)
    return sp, up, leds, got


def fill(sp, batches, sets=3, start=0):
    i = start
    for _ in range(batches):
        for _ in range(sets):
            sp.put(("mb:rs485:%d" % (i % 4), 1750000000 + i, True, {"p": ("%d.5" % i, "W")}))
            i += 1
        sp.seal()
    return i


async def test_pending_batches_go_oldest_first_in_one_request():
    sp, up, leds, _ = make()
    t = up.transport
    fill(sp, 4)
    assert await up.send_all()
    assert t.order == [1, 2, 3, 4]
    assert sp.pending_count() == 0
    assert leds.state["server"] is True


async def test_requests_stay_within_max_body():
    sp, up, _, _ = make(cfg={"uplink": {"max_body": 700}})
    t = up.transport
    fill(sp, 12, sets=6)
    assert await up.send_all()
    assert t.order == list(range(1, 13))
    assert len(t.bodies) > 2
    assert max(len(b) for b in t.bodies) <= 700


async def test_lost_answer_is_retried_idempotently():
    sp, up, leds, _ = make()
    t = up.transport
    fill(sp, 2)
    t.lose_answer = 1
    assert not await up.send_all()
    assert leds.state["server"] is False
    assert list(sp.pending()) == [1, 2]           # nothing deleted without an ack
    assert await up.send_all()
    assert t.order == [1, 2] and sp.pending_count() == 0
    assert len(t.bodies) >= 2


async def test_transport_failure_keeps_everything():
    sp, up, _, _ = make()
    t = up.transport
    fill(sp, 3)
    t.fail = 5
    assert not await up.send_all()
    assert up.last_error == "no_network"
    assert list(sp.pending()) == [1, 2, 3]
    assert up.failures == 1


async def test_partial_ack_keeps_the_rest_for_the_next_request():
    sp, up, _, _ = make()
    t = up.transport
    fill(sp, 3)
    t.ack_at_most = 1
    await up.send_all()
    assert list(sp.pending()) == [2, 3]
    t.ack_at_most = None
    assert await up.send_all()
    assert sp.pending_count() == 0 and t.order == [1, 2, 3]


async def test_answer_with_a_wrong_tag_acknowledges_nothing():
    sp, up, _, _ = make()
    t = up.transport
    fill(sp, 2)
    t.answer_key = b"x" * 32
    assert not await up.send_all()
    assert list(sp.pending()) == [1, 2]


async def test_server_time_sets_an_unset_clock():
    clock = Clock(now=946684800 + 50, valid=False)
    sp, up, _, _ = make(clock=clock)
    t = up.transport
    sp.put(("meter:1", clock.now(), False, {"1.8.0": ("1.000", "kWh")}))
    assert await up.send_all()
    assert clock.sets and clock.sets[0][1] == "server"
    assert abs(clock.sets[0][0] - t.time) <= 1
    assert clock.valid()


async def test_small_skew_is_left_alone_large_is_corrected():
    clock = Clock(now=1750000100 + 3)
    sp, up, _, _ = make(clock=clock)
    await up.send_all()
    assert clock.sets == []
    clock.t = 1750000100 + 600
    up.last_ok_ms = None
    await up.send_all()
    assert clock.sets and clock.sets[0][0] == 1750000100


async def test_first_upload_is_status_only_then_readings_follow():
    sp, up, _, _ = make()
    t = up.transport
    sp.put(("meter:1", 1750000000, True, {"1.8.0": ("1.000", "kWh")}))
    assert await up.send_all()
    assert t.order == [1]
    assert len(t.bodies) == 2        # status first (time, config), then the sealed readings


async def test_resync_moves_sequence_numbers_past_the_collector():
    sp, up, _, _ = make()
    t = up.transport
    fill(sp, 2)
    t.resync = (40, 7, 100)
    assert await up.send_all()
    assert t.order == [101, 102]
    assert sp.boot == 41


async def test_refused_batch_is_isolated_then_given_up_and_counted():
    sp, up, _, _ = make()
    t = up.transport
    fill(sp, 3, sets=2)
    t.refuse = (2,)
    for _ in range(4):
        await up.send_all()
    assert t.order == [1, 3]
    assert sp.pending_count() == 0
    assert sp.st["lost_batches"] == 1 and sp.st["lost_sets"] == 2


async def test_pushed_config_is_handed_over():
    sp, up, _, got = make()
    t = up.transport
    t.config = b'{"version": 4}'
    assert await up.send_all()
    assert got == [b'{"version": 4}']


async def test_status_reports_signal_usage_and_losses():
    sp, up, _, _ = make()
    t = up.transport
    await up.send_all()
    body = t.bodies[0]
    p = 2
    n, p = get_uvarint(body, p)
    p += n
    for _ in range(3):
        _, p = get_uvarint(body, p)
    n, p = get_uvarint(body, p)
    st = bytes(body[p:p + n])
    # Test Net (operator), 4G, usage up 1234 = 0xd2 0x09
    assert b"Test Net" in st and b"4G" in st and b"2026-07" in st
    assert bytes((ev.ST_USAGE_UP << 2,)) + uv(1234) in st
    assert bytes((ev.ST_CFG_VERSION << 2, 3)) in st


class Roaming(StandIn):
    operator = "Test Net"

    def status(self):
        s = StandIn.status(self)
        s["operator"] = self.operator
        return s


async def test_status_carries_only_what_changed_until_the_next_full_one():
    t = Roaming()
    sp, up, _, _ = make(t=t)
    fill(sp, 1)
    await up.send_all()
    fill(sp, 1, start=10)
    await up.send_all()
    t.operator = "Other Net"
    fill(sp, 1, start=20)
    await up.send_all()
    first, second, third = t.bodies[0], t.bodies[-2], t.bodies[-1]
    assert b"Test Net" in first and b"2026-07" in first
    assert b"Test Net" not in second and b"2026-07" not in second
    assert b"Other Net" in third and b"2026-07" not in third
    assert len(second) < len(first)
    up.status.heartbeat_ms = 0               # the next one is full again
    fill(sp, 1, start=30)
    await up.send_all()
    assert b"Other Net" in t.bodies[-1] and b"2026-07" in t.bodies[-1]


class Registering(StandIn):
    registered = False

    def status(self):
        s = StandIn.status(self)
        s["registered"] = self.registered
        return s


async def test_run_waits_for_registration_without_counting_failures():
    import asyncio
    t = Registering()
    sp, up, _, _ = make(t=t)
    up.not_ready_poll_ms = 50
    task = asyncio.create_task(up.run())
    await asyncio.sleep_ms(300)
    assert t.bodies == [] and up.failures == 0
    t.registered = True
    await asyncio.sleep_ms(1000)
    task.cancel()
    assert len(t.bodies) == 1 and up.failures == 0


async def test_batches_in_flight_are_not_dropped_for_room():
    root = ramfs.mount(40)
    sp = Spool(root=root + "/spool", share=0.1, batch_bytes=3000, reserve_blocks=1).open()
    for b in range(3):
        for i in range(30):
            sp.put(("m", 1750000000 + i, True, {"v%d" % k: ("%d.5" % (i * k), "W") for k in range(12)}))
        sp.seal()
    first = sp.first
    sp.in_flight = (first, sp.next - 1)
    for i in range(200):
        sp.put(("m", 1750001000 + i, True, {"v%d" % k: ("%d.5" % (i * k), "W") for k in range(12)}))
    assert sp.first == first and sp.st["lost_batches"] == 0
    sp.in_flight = None
    sp.put(("m", 1750009999, True, {"v": ("1", "W")}))
    sp.seal()
    assert sp.first > first and sp.st["lost_batches"] > 0
