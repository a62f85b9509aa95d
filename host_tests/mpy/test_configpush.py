# Configuration push inside MicroPython: the signed document (a vector made with CPython's hmac),
# the config service's refusals, trial, confirmation and rollback on a RAM flash, and the app's
# choice between a live apply and a restart.
import binascii
import json
import os

import ramfs
from meterlink import app as appmod
from meterlink.proto import config as configmod
from meterlink.proto import envelope as ev
from meterlink.proto.auth import TAG_LEN, Hmac
from meterlink.proto.configpush import Refused, check_version, open_signed
from meterlink.proto.varint import text, uv
from meterlink.services import log
from meterlink.services.configpush import ConfigPush

log.flash_enabled = False
log.console_level = 3
KEY = b"k" * 32
# wire.config_document(b"k" * 32, "dev-1", 5, '{"version":5,"send_period_min":5}'), CPython hmac
VECTOR = binascii.unhexlify(
    "4301056465762d3105217b2276657273696f6e223a352c2273656e645f706572696f645f6d696e223a357d"
    "5fb25a581223d5446a5b7c1a9fab4538")


def sign(doc, version=None, device="dev-1", key=KEY):
    """A collector double: the document format of docs/protocol.md."""
    body = json.dumps(doc)
    head = bytes((0x43, 1)) + text(device) + uv(doc["version"] if version is None else version) + text(body)
    return head + Hmac(key, head).digest()[:TAG_LEN]


def refused(fn, *args):
    try:
        fn(*args)
    except Refused as e:
        return e
    raise AssertionError("not refused")


def test_a_document_signed_by_cpython_opens():
    version, body = open_signed(VECTOR, KEY, "dev-1")
    assert version == 5 and bytes(body) == b'{"version":5,"send_period_min":5}'
    # a view into the answer, not a copy
    assert type(body) is memoryview


def test_forged_tampered_and_misaddressed_documents_are_refused():
    bad = bytearray(VECTOR)
    bad[30] ^= 1                                  # a byte of the JSON
    e = refused(open_signed, bytes(bad), KEY, "dev-1")
    assert e.field == "signature" and e.version == 5
    e = refused(open_signed, VECTOR, b"x" * 32, "dev-1")
    assert e.field == "signature"
    e = refused(open_signed, VECTOR, KEY, "dev-2")
    assert e.field == "device" and "dev-1" in str(e)
    assert refused(open_signed, VECTOR[:10], KEY, "dev-1").field == "document"
    assert refused(open_signed, b"M" + VECTOR[1:], KEY, "dev-1").field == "document"


def test_version_rule_refuses_replays_and_older_documents():
    assert check_version(7, {"version": 7}, 5, 6) is True
    assert check_version(5, {"version": 5}, 5, 6) is False          # runs already
    e = refused(check_version, 6, {"version": 6}, 5, 6)            # seen (refused or rolled back)
    assert e.field == "version" and "not newer than 6" in str(e)
    assert refused(check_version, 4, {"version": 4}, 5, 0).field == "version"
    assert refused(check_version, 8, {"version": 9}, 5, 0).field == "version"
    assert refused(check_version, 8, [1], 5, 0).field == "config"


class Hw:
    name = "test"

    def __init__(self, cause=1):
        self.cause = cause
        self.resets = 0

    def rtc(self):
        import machine
        return machine.RTC()

    def led(self, name):
        return self

    def set(self, on):
        pass

    def reset_cause(self):
        return self.cause

    def reset_cause_name(self):
        return {1: "power-on", 3: "watchdog"}.get(self.cause, "other")

    def soft_reset(self):
        self.resets += 1
        raise SystemExit(85)


class Report:
    def __init__(self):
        self.acked = {}

    def acked_value(self, sid):
        return self.acked.get(sid)


class Uplink:
    def __init__(self):
        self.key = KEY
        self.device_id = "dev-1"
        self.last_error = "dns"
        self.status = Report()


def setup(running=None, cause=1):
    mp = ramfs.mount(32)
    files = {"state_file": mp + "/state.json", "confirmed_file": mp + "/confirmed.json",
             "config_file": mp + "/config.json"}
    running = running or {"version": 3, "send_period_min": 2}
    with open(files["config_file"], "w") as f:
        f.write(json.dumps(running))
    app = appmod.App(Hw(cause), configmod.check(running, None))
    app.uplink = Uplink()
    applied = []
    app.apply_config = applied.append
    return app, ConfigPush(app, **files), files, applied


def read(path):
    with open(path) as f:
        return json.loads(f.read())


def test_a_good_document_is_written_put_on_trial_and_applied():
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 5}))
    assert read(files["config_file"]) == {"version": 4, "send_period_min": 5}
    assert read(files["confirmed_file"]) == {"version": 3, "send_period_min": 2}
    assert [c["send_period_min"] for c in applied] == [5]
    st = read(files["state_file"])
    assert st["trial"] == 4 and st["high"] == 4 and st["refused"] is None


def test_refusals_name_the_field_write_nothing_and_are_reported():
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 500}))
    assert svc.st["refused"][0] == 4 and svc.st["refused"][1].startswith("send_period_min: must be 1 to 240")
    svc.on_push(sign({"version": 5, "send_period_min": 5}, key=b"z" * 32))
    assert svc.st["refused"] == [5, "signature: does not verify with the device key"]
    svc.on_push(sign({"version": 4, "send_period_min": 5}))        # 4 was seen (refused)
    assert svc.st["refused"][0] == 4 and svc.st["refused"][1].startswith("version: 4 is not newer")
    assert applied == [] and read(files["config_file"])["version"] == 3
    items = dict(svc.status())
    assert items[ev.ST_CFG_REFUSED_VERSION] == 4 and "version" in items[ev.ST_CFG_REFUSED]
    # once the collector has acknowledged the report it is dropped (no more air time)
    app.uplink.status.acked = dict(svc.status())
    svc._forget_reported()
    assert svc.status() == [] and read(files["state_file"])["refused"] is None


def test_a_successful_upload_confirms_the_trial():
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 5}))
    app.cfg = applied[-1]
    svc.on_result(False)
    svc.on_result(True)
    assert svc.st["trial"] is None and svc.st["failed"] == 0
    assert read(files["confirmed_file"])["version"] == 4


OTHER_SERVER = {"url": "http://collector.other.example/i"}


def test_failed_uploads_roll_back_to_the_confirmed_configuration():
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 5, "server": OTHER_SERVER,
                      "uplink": {"rollback_after": 2}}))
    app.cfg = applied[-1]
    svc.on_result(False)
    assert svc.st["failed"] == 1 and len(applied) == 1
    # the count survives a restart of the app
    svc = ConfigPush(app, **files)
    assert svc.st["trial"] == 4 and svc.st["failed"] == 1
    svc.on_result(False)
    assert read(files["config_file"]) == {"version": 3, "send_period_min": 2}
    assert applied[-1]["version"] == 3 and applied[-1]["send_period_min"] == 2
    assert svc.st["rolled_back"] == [4, "2 failed uploads (last: dns)"] and svc.st["trial"] is None
    items = dict(svc.status())
    assert items[ev.ST_CFG_ROLLED_BACK_VERSION] == 4
    # the rolled-back version is never taken again
    app.cfg = applied[-1]
    svc.on_push(sign({"version": 4, "send_period_min": 5}))
    assert svc.st["refused"][0] == 4 and read(files["config_file"])["version"] == 3


def test_a_crash_during_the_trial_rolls_back_at_the_next_boot():
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 5}))
    app2 = appmod.App(Hw(3), configmod.check(read(files["config_file"]), None))
    app2.uplink = Uplink()
    again = []
    app2.apply_config = again.append
    svc2 = ConfigPush(app2, **files)
    svc2.crashed_boot(3)
    assert again[-1]["version"] == 3 and svc2.st["rolled_back"][0] == 4
    assert "watchdog" in svc2.st["rolled_back"][1]


def test_a_document_that_keeps_the_uplink_settings_survives_an_outage():
    # only meters and the send period change: failed uploads are the network's or the
    # server's fault, so they neither count nor start the trial clock; a crash still rolls back
    import time
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 1, "poll_period_s": 30}))
    app.cfg = applied[-1]
    assert svc.st["trial"] == 4 and svc.st["net"] is False
    for _ in range(10):
        svc.on_result(False)
    assert svc.st["failed"] == 0 and svc.st["rolled_back"] is None and len(applied) == 1
    svc.trial_ms = time.ticks_add(time.ticks_ms(), -svc._trial_limit_ms() - 1)

    async def once():
        import asyncio
        t = asyncio.create_task(svc.run())
        await asyncio.sleep_ms(10)
        t.cancel()

    async def then_crash():
        await once_then(once, lambda: svc.st["trial"] == 4 and len(applied) == 1)
        app2 = appmod.App(Hw(3), configmod.check(read(files["config_file"]), None))
        app2.uplink = Uplink()
        again = []
        app2.apply_config = again.append
        svc2 = ConfigPush(app2, **files)
        assert svc2.st["net"] is False                  # kept across the reset
        svc2.crashed_boot(3)
        assert again[-1]["version"] == 3 and svc2.st["rolled_back"][0] == 4
    return then_crash()


def test_a_document_that_changes_the_uplink_settings_is_judged_by_the_uploads():
    app, svc, files, applied = setup()
    for n, doc in enumerate(({"apn": {"name": "m2m.other"}}, {"modem": {"http_timeout_s": 60}},
                             {"network": {"prefer": "2g"}}, {"uplink": {"retry_s": 30}})):
        doc["version"] = 4 + n
        svc.on_push(sign(doc))
        assert svc.st["trial"] == 4 + n and svc.st["net"] is True, doc
        app.cfg = applied[-1]
        svc.on_result(True)                             # confirmed: the next one is new


def test_no_upload_within_the_trial_time_rolls_back():
    import time
    app, svc, files, applied = setup()
    svc.on_push(sign({"version": 4, "send_period_min": 1, "server": OTHER_SERVER}))
    app.cfg = applied[-1]
    limit = svc._trial_limit_ms()
    assert limit == (3 * 1 + 10) * 60000
    svc.trial_ms = time.ticks_add(time.ticks_ms(), -limit - 1)

    async def once():
        import asyncio
        t = asyncio.create_task(svc.run())
        await asyncio.sleep_ms(10)
        t.cancel()
    return once_then(once, lambda: svc.st["rolled_back"][0] == 4 and applied[-1]["version"] == 3)


async def once_then(fn, check):
    await fn()
    assert check()


class Capability:
    def __init__(self, live=True):
        self.got = []
        self.live = live

    def __call__(self, cfg):
        self.got.append(cfg["version"])
        return self.live


def test_the_app_applies_live_only_what_its_capabilities_take():
    cfg = configmod.check({"version": 1}, None)
    app = appmod.App(Hw(), cfg)
    up, meters = Capability(), Capability()
    app.on_reconfigure(("version", "send_period_min"), up)
    app.on_reconfigure(("meters", "poll_period_s"), meters)
    new = configmod.check({"version": 2, "send_period_min": 5}, None)
    assert app.apply_config(new) is True
    assert up.got == [2] and meters.got == [] and app.cfg is new and app.hw.resets == 0
    # a section nobody applies live: a restart
    try:
        app.apply_config(configmod.check({"version": 3, "send_period_min": 5, "spool": {"share": 0.3}}, None))
    except SystemExit:
        pass
    assert app.hw.resets == 1 and up.got == [2]
    # a capability that cannot take this change: a restart too
    app.on_reconfigure(("modbus",), Capability(live=False))
    try:
        app.apply_config(configmod.check({"version": 4, "send_period_min": 5,
                                           "modbus": [{"id": "R", "address": 1, "profile": "x"}]}, None))
    except SystemExit:
        pass
    assert app.hw.resets == 2
