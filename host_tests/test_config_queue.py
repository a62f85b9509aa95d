"""The collector's configuration queue: documents checked with the device's schema, versions that
only increase, a signature the firmware's own check accepts (and a forged or replayed document it
refuses), delivery in the answer to the next upload, and the states the device's reports move a
document through."""
import hashlib
import hmac
import json
import sys

import pytest

from meterlink_tools.collector import Collector, QueueError, configs, create_app, wire
from meterlink_tools.hostboard import FIRMWARE
from uplink_util import DeviceDouble, ev

if str(FIRMWARE) not in sys.path:
    sys.path.append(str(FIRMWARE))

from meterlink.proto.configpush import Refused, check_version, open_signed  # noqa: E402

KEY = bytes(range(32))
NOW = 1767225600
DOC = {"version": 2, "send_period_min": 5, "server": {"url": "http://c.example.com/i"},
       "apn": {"name": "internet"}}


@pytest.fixture
def env(tmp_path):
    c = Collector(tmp_path / "c.db", clock=lambda: NOW)
    c.add_device("dev-1", KEY)
    return c, create_app(c).test_client(), DeviceDouble("dev-1", KEY)


def upload(client, dev, status=()):
    """One status-only upload; the answer's configuration document (or None)."""
    body = dev.request([], status=list(status))
    r = client.post("/i", data=body, content_type="application/octet-stream")
    assert r.status_code == 200
    return ev.parse_answer(r.data, KEY, body[-16:])["config"]


def test_the_signed_document_is_the_documented_format(env):
    c, _, _ = env
    c.configs.queue("dev-1", json.dumps(DOC))
    signed = bytes(c.db.execute("SELECT signed FROM configs").fetchone()[0])
    text = json.dumps(DOC, separators=(",", ":")).encode()
    head = b"C\x01" + bytes([5]) + b"dev-1" + bytes([2]) + bytes([len(text)]) + text
    assert signed[:-16] == head
    assert signed[-16:] == hmac.new(KEY, head, hashlib.sha256).digest()[:16]
    # and the firmware's own check (pure, here under CPython) opens it
    version, body = open_signed(signed, KEY, "dev-1")
    assert (version, bytes(body)) == (2, text)


def test_forged_changed_and_misaddressed_documents_fail_the_firmware_check(env):
    c, _, _ = env
    c.add_device("dev-2", bytes(32))
    good = wire.config_document(KEY, "dev-1", 7, '{"version":7}')
    with pytest.raises(Refused) as e:
        open_signed(wire.config_document(b"\x01" * 32, "dev-1", 7, '{"version":7}'), KEY, "dev-1")
    assert e.value.field == "signature" and e.value.version == 7
    changed = good.replace(b'"version":7', b'"version":8')
    with pytest.raises(Refused) as e:
        open_signed(changed, KEY, "dev-1")
    assert e.value.field == "signature"
    with pytest.raises(Refused) as e:
        open_signed(good, KEY, "dev-2")
    assert e.value.field == "device"
    # a replay of a document the device has seen: refused by the version rule
    with pytest.raises(Refused) as e:
        check_version(7, {"version": 7}, 6, 7)
    assert e.value.field == "version"


def test_documents_are_checked_with_the_device_schema(env):
    c, _, _ = env
    with pytest.raises(QueueError) as e:
        c.configs.queue("dev-1", json.dumps(dict(DOC, send_period_min=0, meters=[{"id": "M1", "port": "x"}])))
    assert "send_period_min: must be 1 to 240, got 0" in e.value.errors
    assert any(m.startswith("meters[0].port: unknown port 'x'") for m in e.value.errors)
    with pytest.raises(QueueError) as e:
        c.configs.queue("dev-1", "{not json")
    assert e.value.errors[0].startswith("config: not valid JSON")
    with pytest.raises(QueueError) as e:
        c.configs.queue("dev-9", json.dumps(DOC))
    assert e.value.status == 404
    out = c.configs.queue("dev-1", json.dumps({"version": 2, "send_period_min": 5}))
    assert [w.split(":")[0] for w in out["warnings"]] == ["server.url", "apn.name"]
    assert c.configs.history("dev-1")[0]["state"] == "queued"


def test_versions_only_increase_and_the_queue_keeps_history(env):
    c, client, dev = env
    upload(client, dev, [(ev.ST_CFG_VERSION, 4)])      # the device runs 4
    with pytest.raises(QueueError) as e:
        c.configs.queue("dev-1", json.dumps(DOC))
    assert e.value.status == 409 and "give 5 or more" in e.value.errors[0]
    assert c.configs.queue("dev-1", json.dumps(DOC), bump=True)["version"] == 5
    assert c.configs.queue("dev-1", json.dumps(dict(DOC, version=9)))["version"] == 9
    with pytest.raises(QueueError):
        c.configs.queue("dev-1", json.dumps(dict(DOC, version=9)))
    assert [(r["version"], r["state"]) for r in c.configs.history("dev-1")] == [(5, "superseded"), (9, "queued")]
    assert json.loads(c.configs.document("dev-1", 5))["version"] == 5


def test_delivered_in_the_next_answer_until_the_device_reports_it_running(env):
    c, client, dev = env
    assert upload(client, dev, [(ev.ST_CFG_VERSION, 1)]) is None
    c.configs.queue("dev-1", json.dumps(DOC))
    doc = upload(client, dev)
    assert open_signed(doc, KEY, "dev-1")[0] == 2
    doc_again = upload(client, dev)                   # the answer was lost: once more
    assert doc_again == doc
    assert upload(client, dev, [(ev.ST_CFG_VERSION, 2)]) is None
    row = c.configs.history("dev-1")[0]
    assert (row["state"], row["deliveries"], row["delivered_at"]) == ("running", 2, NOW)
    # the next one replaces it
    c.configs.queue("dev-1", json.dumps(dict(DOC, version=3)))
    upload(client, dev)
    upload(client, dev, [(ev.ST_CFG_VERSION, 3)])
    assert [r["state"] for r in c.configs.history("dev-1")] == ["replaced", "running"]


def test_refusals_and_rollbacks_are_recorded_with_the_reason(env):
    c, client, dev = env
    upload(client, dev, [(ev.ST_CFG_VERSION, 1)])
    c.configs.queue("dev-1", json.dumps(DOC))
    upload(client, dev)
    upload(client, dev, [(ev.ST_CFG_REFUSED_VERSION, 2), (ev.ST_CFG_REFUSED, "meters[0].address: needed")])
    row = c.configs.history("dev-1")[0]
    assert (row["state"], row["reason"]) == ("refused", "meters[0].address: needed")
    c.configs.queue("dev-1", json.dumps(dict(DOC, version=3)))
    assert upload(client, dev) is not None
    upload(client, dev, [(ev.ST_CFG_VERSION, 3)])
    upload(client, dev, [(ev.ST_CFG_VERSION, 1), (ev.ST_CFG_ROLLED_BACK_VERSION, 3),
                         (ev.ST_CFG_ROLLED_BACK, "3 failed uploads (last: dns)")])
    states = {r["version"]: (r["state"], r["reason"]) for r in c.configs.history("dev-1")}
    assert states == {2: ("refused", "meters[0].address: needed"),
                      3: ("rolled_back", "3 failed uploads (last: dns)")}
    assert upload(client, dev) is None              # nothing is sent again
    assert c.device_status("dev-1")["config_rolled_back"] == "3 failed uploads (last: dns)"


def test_a_device_that_never_reports_stops_getting_the_document(env):
    c, client, dev = env
    c.configs.queue("dev-1", json.dumps(DOC))
    got = [upload(client, dev) is not None for _ in range(configs.MAX_DELIVERIES + 2)]
    assert got == [True] * configs.MAX_DELIVERIES + [False, False]
    row = c.configs.history("dev-1")[0]
    assert row["state"] == "abandoned" and "5 times" in row["reason"]


def test_a_queued_document_can_be_cancelled(env):
    c, client, dev = env
    c.configs.queue("dev-1", json.dumps(DOC))
    assert c.configs.cancel("dev-1", 2) and not c.configs.cancel("dev-1", 2)
    assert upload(client, dev) is None
    assert c.configs.history("dev-1")[0]["state"] == "cancelled"


def test_an_unchecked_document_still_obeys_signature_and_version(env):
    c, client, dev = env
    c.configs.queue("dev-1", json.dumps(dict(DOC, send_period_min=500)), check=False)
    version, text = open_signed(upload(client, dev), KEY, "dev-1")
    assert version == 2 and json.loads(bytes(text))["send_period_min"] == 500


def test_answers_without_a_document_stay_small(env):
    c, client, dev = env
    body = dev.request([], status=[(ev.ST_CFG_VERSION, 1)])
    r = client.post("/i", data=body, content_type="application/octet-stream")
    assert len(r.data) <= 3 + 1 + 5 + 16       # head, ack, time, tag
    c.configs.queue("dev-1", json.dumps(DOC))
    body = dev.request([])
    r = client.post("/i", data=body, content_type="application/octet-stream")
    signed = bytes(c.db.execute("SELECT signed FROM configs").fetchone()[0])
    prefix = 1 if len(signed) < 128 else 2            # its length as a uvarint
    assert len(r.data) == 3 + 1 + 5 + prefix + len(signed) + 16


def test_a_document_larger_than_the_terminals_request_buffer_is_queued_with_a_warning(env):
    c, client, dev = env
    meters = [{"id": "M%02d" % i, "port": "rs485", "address": "MSY%09d" % (240000100 + i),
               "readout": "short"} for i in range(32)]
    modbus = [{"id": "R%02d" % i, "port": "rs485", "address": i + 1, "profile": "klemsan_rapidus",
               "line": "9600 8N1", "period_s": 60} for i in range(64)]
    big = dict(DOC, meters=meters, modbus=modbus)
    out = c.configs.queue("dev-1", json.dumps(big))
    assert out["bytes"] > 8192 - 32
    assert [w for w in out["warnings"] if "larger than the terminal's uplink.max_body (8192 B)" in w]
    # once the terminal runs a document with a larger buffer, the same size is no concern
    upload(client, dev)
    upload(client, dev, [(ev.ST_CFG_VERSION, 2)])
    c.configs.queue("dev-1", json.dumps(dict(big, version=3, uplink={"max_body": 16384})))
    upload(client, dev)
    upload(client, dev, [(ev.ST_CFG_VERSION, 3)])
    out = c.configs.queue("dev-1", json.dumps(dict(big, version=4, uplink={"max_body": 16384})))
    assert not [w for w in out["warnings"] if "max_body" in w]
