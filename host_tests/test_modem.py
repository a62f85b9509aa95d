"""The modem capability on the host board against the SIM7600 / SIM800 simulator, in virtual
time: a binary HTTP round trip, URCs interleaved everywhere, and data usage."""
import hashlib

import pytest

from modem_util import BIN, Server, big, run_modem

MODELS = ["sim7600", "sim800"]
TAIL = b"\r\nOK\r\n+HTTPREAD: 0\r\n\xff"


def answer(body):
    return 200, bytes(reversed(body)) + TAIL


def digest(b):
    return b.hex() if len(b) <= 600 else "%d:%s" % (len(b), hashlib.sha256(b).hexdigest())


@pytest.fixture
def server():
    s = Server(answer)
    yield s
    s.close()


@pytest.mark.parametrize("model", MODELS)
def test_binary_post_round_trip(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:120", "post:bin", "post:n3000"], model=model,
                    server=server)
    online = run.step("online")
    assert online["ok"], run.output
    st = online["status"]
    assert st["registered"] and st["state"] == "online" and st["sim"] == "ready"
    assert st["tech"] == ("4G" if model == "sim7600" else "2G")
    assert st["operator"] == "Meterlink Mobile"
    # the simulator reports +CSQ: 22 on LTE, 17 on GSM; dBm = -113 + 2 * rssi
    assert (st["csq"], st["rssi_dbm"]) == ((22, -69) if model == "sim7600" else (17, -79))

    first, second = run.step("post"), run.step("post", 1)
    assert first["status"] == 200 and second["status"] == 200, run.output
    assert [r["body"] for r in server.requests] == [BIN, big(3000)]
    assert first["resp"] == digest(answer(BIN)[1])
    assert second["resp"] == digest(answer(big(3000))[1])
    req = server.requests[0]
    assert req["path"] == "/api/v1/ingest"
    if model == "sim7600":
        # the name was looked up once (AT+CDNSGIP), both requests went to the address
        lookups = [c for _t, c in run.sim.commands if c.startswith("AT+CDNSGIP")]
        assert lookups == ['AT+CDNSGIP="collector.example.net"']
        assert [r["headers"]["Host"] for r in server.requests] == ["198.51.100.7"] * 2
    else:
        # SIM800: its HTTP stack looks the name up itself
        assert req["headers"]["Host"] == "collector.example.net"
    assert req["headers"]["Content-Type"] == "application/octet-stream"
    # 4G: the net LED is on; 2G: it blinks at 1 Hz
    assert run.hb.pin_state("LED_NET") == (1 if model == "sim7600" else "~1")


@pytest.mark.parametrize("model", MODELS)
def test_urcs_mid_command_never_reach_results(tmp_path, server, model):
    """The simulator puts +CMTI / +CxREG URCs between echo, information lines, final codes
    and HTTPREAD blocks of every answer."""
    run = run_modem(tmp_path, ["online:120", "post:bin", "post:n3000", "status"], model=model,
                    server=server, noise=True)
    assert run.sim.counts["noise"] > 20
    st = run.step("status")
    assert st["status"]["operator"] == "Meterlink Mobile"
    assert st["status"]["csq"] == (22 if model == "sim7600" else 17)
    assert st["status"]["sms"] > 0               # the URCs went to the URC table...
    assert st["unknown"] == []                   # ...and nothing was left unexplained
    assert run.step("post")["resp"] == digest(answer(BIN)[1])
    assert run.step("post", 1).get("resp") == digest(answer(big(3000))[1]), "\n".join(run.output[-40:]) + str(list(run.sim.commands)[-20:])
    assert [r["body"] for r in server.requests] == [BIN, big(3000)]


@pytest.mark.parametrize("model", MODELS)
def test_usage_estimate_follows_the_network_bill(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:120", "post:n100", "post:n5000", "usage"], model=model,
                    server=server)
    usage = run.step("usage")["usage"]
    assert usage["month"] == "2026-01"           # the simulated network's date (NITZ)
    bill = run.sim.billing
    # two different models (the firmware cannot see the server's headers): within 20 %
    assert abs(usage["up"] - bill.up) <= 0.2 * bill.up, (usage, bill.up)
    assert abs(usage["down"] - bill.down) <= 0.2 * bill.down, (usage, bill.down)
    assert usage["up"] > 5100 and usage["down"] > 2 * 12


def test_usage_is_kept_across_reboots(tmp_path, server):
    run = run_modem(tmp_path, None, server=server,
                    boots=[["online:120", "post:n100", "save", "usage"], ["usage"]])
    before, after = run.step("usage"), run.step("usage", 1)
    assert before["usage"]["up"] > 0
    assert after["usage"] == before["usage"]


def test_network_time_by_ntp_when_the_network_sends_none(tmp_path, server):
    run = run_modem(tmp_path, ["time", "online:120", "time"], server=server, nitz=False)
    assert run.step("time")["value"] is None     # modem off: no time
    t = run.step("time", 1)
    # the simulator's network clock: its epoch plus the virtual time; CCLK shows local time
    # (UTC+2, "+08" quarter hours) and the firmware converts it back to UTC
    assert abs(t["value"] - (run.sim.epoch + t["t"])) <= 2, t
    assert run.commands("AT+CNTP")


def test_clock_set_from_nitz_at_registration(tmp_path, server):
    run = run_modem(tmp_path, ["online:120", "time"], server=server)
    t = run.step("time")
    assert t["valid"] and abs(t["clock"] - (run.sim.epoch + t["t"])) <= 2
    assert not run.commands("AT+CNTP")


def test_repl_diagnosis(tmp_path, server):
    from hostboard_util import script
    run = run_modem(tmp_path, [], server=server, script=script("modem_repl.py"), sim="pin")
    out = "\n".join(run.output)
    assert "=> the modem does not answer" in out
    assert "SIM: pin" in out
    assert "CEREG not registered, not searching" in out
    assert "AT+CPIN=" not in out and run.sim.pin_attempts == 0
