"""The reference collector's ingest endpoint: signed batches are stored exactly once; forged,
replayed, malformed and oversized bodies get a 4xx and leave the database as it was."""
import hashlib
import hmac

import pytest

from meterlink_tools.collector import Collector, create_app, wire
from uplink_util import DeviceDouble, ev

KEY = bytes(range(32))
NOW = 1750000000


def sets(n, t0=1749990000, src="meter:MSY1", ok=True):
    return [(src, t0 + 60 * i, ok, {"1.8.0": ("%06d.%03d" % (1000 + i, i), "kWh"),
                                    "32.7.0": ("230.%d" % i, "V")}) for i in range(n)]


@pytest.fixture
def env(tmp_path):
    c = Collector(tmp_path / "c.db", clock=lambda: NOW, max_body=8192)
    c.add_device("dev-1", KEY)
    client = create_app(c).test_client()
    return c, client, DeviceDouble("dev-1", KEY)


def post(client, body):
    r = client.post("/i", data=body, content_type="application/octet-stream")
    return r.status_code, r.data


def snapshot(c):
    tables = ("batches", "reading_sets", "readings", "dictionary", "device_state", "uploads", "clock_fixes")
    return {t: c.db.execute("SELECT COUNT(*) FROM %s" % t).fetchone()[0] for t in tables}


def check_answer(data, request, key=KEY):
    """The answer verifies with CPython's hmac over (request tag, answer)."""
    body, tag = data[:-16], data[-16:]
    assert hmac.new(key, request[-16:] + body, hashlib.sha256).digest()[:16] == tag
    return ev.parse_answer(data, key, request[-16:])


def test_batches_are_stored_and_acknowledged(env):
    c, client, dev = env
    b1, b2 = dev.batch(sets(3)), dev.batch(sets(2, t0=1750000000))
    body = dev.request([b1, b2], status=[(ev.ST_CSQ, 21), (ev.ST_TECH, "4G"), (ev.ST_OPERATOR, "Op"),
                                         (ev.ST_LOST_SETS, 4), (ev.ST_RSSI, -71)])
    status, data = post(client, body)
    assert status == 200
    ans = check_answer(data, body)
    assert ans["ack"] == 2 and ans["time"] == NOW and ans["config"] is None
    got = c.reading_sets("dev-1")
    assert [(s, t, ok) for s, t, ok, _, _ in got] == [(s, t, ok) for s, t, ok, _ in sets(3) + sets(2, t0=1750000000)]
    assert got[0][4] == {"1.8.0": ("1000.000", "kWh"), "32.7.0": ("230.0", "V")}
    row = c.db.execute("SELECT status, last_seq FROM device_state").fetchone()
    assert '"operator": "Op"' in row[0] and '"rssi_dbm": -71' in row[0] and row[1] == 2


def test_a_retry_after_a_lost_answer_stores_nothing_twice(env):
    c, client, dev = env
    b1 = dev.batch(sets(3))
    assert post(client, dev.request([b1]))[0] == 200
    b2 = dev.batch(sets(1, t0=1750000000))
    retry = dev.request([b1, b2])             # same batch 1, a new request number
    status, data = post(client, retry)
    assert status == 200 and check_answer(data, retry)["ack"] == 2
    st = c.stats()
    assert st["stored"] == 4 and st["duplicates"] == 0 and st["resent_batches"] == 1


def test_forged_tag_is_refused(env):
    c, client, dev = env
    body = bytearray(dev.request([dev.batch(sets(2))]))
    before = snapshot(c)
    body[-1] ^= 1
    assert post(client, bytes(body))[0] == 401
    forged = DeviceDouble("dev-1", b"\x00" * 32).request([DeviceDouble("dev-1", b"\x00" * 32).batch(sets(2))])
    assert post(client, forged)[0] == 401
    assert snapshot(c) == before


def test_changed_body_with_the_old_tag_is_refused(env):
    c, client, dev = env
    body = bytearray(dev.request([dev.batch(sets(2))]))
    body[len(body) - 20] ^= 0x10              # a reading's value, inside the signed part
    before = snapshot(c)
    assert post(client, bytes(body))[0] == 401
    assert snapshot(c) == before


def test_replayed_request_is_refused_and_stores_nothing(env):
    c, client, dev = env
    body = dev.request([dev.batch(sets(2))])
    assert post(client, body)[0] == 200
    before = snapshot(c)
    status, data = post(client, body)
    assert status == 409
    ans = check_answer(data, body)
    assert ans["resync"] == (1, 0, 1)
    assert snapshot(c) == before


def test_same_sequence_with_other_content_is_a_conflict(env):
    c, client, dev = env
    assert post(client, dev.request([dev.batch(sets(2))]))[0] == 200
    other = DeviceDouble("dev-1", KEY, boot=2)            # a device that lost its state
    body = other.request([other.batch(sets(1, t0=1750009999))])
    before = snapshot(c)
    status, data = post(client, body)
    assert status == 409 and check_answer(data, body)["resync"] == (1, 0, 1)
    assert snapshot(c) == before


def test_unknown_device_is_refused(env):
    c, client, _ = env
    stranger = DeviceDouble("dev-9", KEY)
    before = snapshot(c)
    assert post(client, stranger.request([stranger.batch(sets(1))]))[0] == 403
    assert snapshot(c) == before


MALFORMED = {
    "empty": lambda b: b"",
    "not_meterlink": lambda b: b"GET / HTTP/1.1\r\n\r\n" + b"x" * 40,
    "other_version": lambda b: b[:1] + b"\x09" + b[2:],
    "truncated": lambda b: b[:len(b) // 2],
    "extra_bytes": lambda b: b[:-16] + b"\x00" + b[-16:],
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_bodies_are_refused(env, name):
    c, client, dev = env
    body = dev.request([dev.batch(sets(2))])
    before = snapshot(c)
    status, _ = post(client, MALFORMED[name](body))
    assert status == 400
    assert snapshot(c) == before


def test_signed_but_undecodable_batch_is_refused_whole(env):
    c, client, dev = env
    good = dev.batch(sets(2))
    seq, data = dev.batch(sets(1, t0=1750000000))
    bad = (seq, data[:-2])                     # a reading set cut short, correctly signed
    before = snapshot(c)
    assert post(client, dev.request([good, bad]))[0] == 400
    assert snapshot(c) == before               # not even the good batch of that request


def test_reference_to_an_unknown_definition_is_refused(env):
    c, client, dev = env
    dev.batch(sets(2))                         # batch 1 defines the dictionary, never sent
    dev.confirm(1, 1)                          # ... but the device wrongly believes it was stored
    before = snapshot(c)
    assert post(client, dev.request([dev.batch(sets(1, t0=1750000000))]))[0] == 400
    assert snapshot(c) == before


def test_oversized_body_is_refused(env):
    c, client, dev = env
    many = [dev.batch(sets(30, t0=1750000000 + 3600 * i)) for i in range(40)]
    body = dev.request(many)
    assert len(body) > 8192
    before = snapshot(c)
    assert post(client, body)[0] == 413
    assert c.ingest(body)[0] == 413
    assert snapshot(c) == before


def test_clock_fix_corrects_readings_taken_before_the_clock_was_set(env):
    c, client, dev = env
    early = sets(2, t0=946684800 + 30, ok=False)
    assert post(client, dev.request([dev.batch(early)]))[0] == 200
    got = c.reading_sets("dev-1")
    assert [t for _, t, _, _, _ in got] == [None, None]       # flagged: time unknown yet
    assert c.stats()["clock_unknown"] == 2
    dev.confirm(1, 1)
    dev.enc.clock_fix = 803315100
    assert post(client, dev.request([dev.batch(sets(1, t0=1750000000))]))[0] == 200
    got = c.reading_sets("dev-1")
    assert [t for _, t, _, _, _ in got] == [946684830 + 803315100, 946684890 + 803315100, 1750000000]
    assert c.stats()["clock_unknown"] == 0


def test_pending_configuration_rides_on_the_answer(env, tmp_path):
    c, client, dev = env
    c.config_for = lambda device, status: b'{"version": 9}' if status.get("config_version") == 3 else None
    body = dev.request([], status=[(ev.ST_CFG_VERSION, 3)])
    status, data = post(client, body)
    assert status == 200 and check_answer(data, body)["config"] == b'{"version": 9}'


def test_answers_are_small(env):
    c, client, dev = env
    from meterlink_tools.collector import serve_in_thread
    import urllib.request
    srv = serve_in_thread(c)
    try:
        body = dev.request([dev.batch(sets(1))])
        r = urllib.request.urlopen(urllib.request.Request(srv.url, data=body, method="POST",
                                   headers={"Content-Type": "application/octet-stream"}))
        assert r.status == 200
        assert "Server" not in r.headers and "Date" not in r.headers
        assert len(r.read()) < 40
    finally:
        srv.stop()


def test_status_decoding_is_independent_of_the_encoder():
    # id 4 (csq) uvarint 20, id 5 (rssi) svarint -73, id 6 (tech) text "2G", id 3 clock valid+server
    data = bytes([4 << 2, 20, (5 << 2) | 1, 145, 1, (6 << 2) | 2, 2]) + b"2G" + bytes([3 << 2, 7])
    assert wire.parse_status(data) == {"csq": 20, "rssi_dbm": -73, "tech": "2G",
                                       "clock_valid": True, "clock_source": "server"}


def test_status_items_merge_across_requests(env):
    c, client, dev = env
    post(client, dev.request([], status=[(ev.ST_OPERATOR, "Op A"), (ev.ST_CSQ, 10)]))
    post(client, dev.request([], status=[(ev.ST_CSQ, 12), (ev.ST_MODEM_ERROR, "")]))
    import json
    st = json.loads(c.db.execute("SELECT status FROM device_state").fetchone()[0])
    assert st["operator"] == "Op A" and st["csq"] == 12 and st["modem_error"] == ""


def test_signed_garbage_never_crashes_the_collector(tmp_path):
    """Correctly signed requests whose batches are mutated: 200, 400 or 409, never an exception,
    and a refused request changes nothing."""
    import random
    rng = random.Random(11)
    c = Collector(tmp_path / "f.db", clock=lambda: NOW)
    c.add_device("dev-1", KEY)
    statuses = set()
    for i in range(300):
        dev = DeviceDouble("dev-1", KEY, boot=1000 + i)
        seq, data = dev.batch(sets(rng.randrange(1, 4), t0=1750000000 + i))
        data = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[:rng.randrange(len(data))]
        before = snapshot(c)
        status, _, _ = c.ingest(dev.request([(1000 + i, bytes(data))]))
        statuses.add(status)
        assert status in (200, 400, 409)
        if status != 200:
            assert snapshot(c) == before
    assert 400 in statuses
