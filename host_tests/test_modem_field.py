"""Field behaviours of real SIM7600 / SIM800 modules, end to end: the firmware's modem
capability on the host board against the simulator switched to behave like them."""
import pytest

from modem_util import Server, big, run_modem
from test_modem_recovery import ctl

MODELS = ["sim7600", "sim800"]


@pytest.fixture
def server():
    s = Server(lambda body: (200, bytes(reversed(body))))
    yield s
    s.close()


def test_httpread_end_mark_without_space(tmp_path, server):
    """SIM7600 firmwares that end the answer with "+HTTPREAD:0": the answer is read, the
    modem is not taken for hung."""
    run = run_modem(tmp_path, ["online:120", "post:n3000", "status"], server=server,
                    httpread_nospace=True)
    post = run.step("post")
    assert post.get("status") == 200, post
    assert run.step("status")["status"]["reboots"] == 0
    assert not run.events("off")                           # no power cycle
    assert [r["body"] for r in server.requests] == [big(3000)]


@pytest.mark.parametrize("model", MODELS)
def test_sim_removed_while_online(tmp_path, server, model):
    """SIM7600 "+CPIN: SIM REMOVED" / "+SIMCARD: NOT AVAILABLE", SIM800 "+CPIN: NOT READY":
    the supervisor looks at the SIM again and reports it; requests fail with no_sim."""
    run = run_modem(tmp_path, ["online:120", ctl("sim_removed"), "sleep:20", "status", "post:n10"],
                    model=model, server=server, config={"modem": {"session_wait_s": 30}})
    st = run.step("status")["status"]
    assert st["sim"] == "absent" and st["state"] == "no_sim", st
    assert st["last_error"] == "no_sim" and not st["online"]
    assert run.step("post")["error"] == "no_sim"
    assert any("the SIM went away" in line for line in run.output)
    assert run.hb.pin_state("LED_NET") == "~8"
    assert not server.requests


@pytest.mark.parametrize("model", MODELS)
def test_junk_before_rdy_of_a_spontaneous_reboot(tmp_path, server, model):
    """NUL/0xFF glued to "RDY": still a start-up line, so the restart is noticed and handled."""
    run = run_modem(tmp_path, ["online:120", ctl("reboot", 2), "sleep:40", "status", "post:n10"],
                    model=model, server=server, boot_junk=True)
    st = run.step("status")
    assert st["status"]["reboots"] == 1 and st["status"]["state"] == "online"
    assert st["unknown"] == []
    assert run.step("post").get("status") == 200


def test_sim800_autobaud_start_and_restart(tmp_path, server):
    """A SIM800 without a fixed rate prints nothing at start-up and ignores the first AT; after
    a restart of its own the firmware teaches it the rate again and sets it up anew."""
    run = run_modem(tmp_path, ["online:120", "post:n10", ctl("reboot", 2), "sleep:90", "status",
                               "post:n20"], model="sim800", server=server, autobaud=True)
    assert run.step("online")["ok"]
    assert [len(r["body"]) for r in server.requests] == [10, 20]
    st = run.step("status")["status"]
    assert st["state"] == "online"
    assert len(run.events("autobaud")) == 2
    assert len(run.commands("AT+CMEE=2")) == 2                 # set up again after the restart


def test_cgev_of_another_context_keeps_the_session(tmp_path, server):
    """SIM7600 "+CGEV: NW PDN DEACT <cid>": only our context (1) means the session is gone; an
    operator's second context (IMS) going down is no reason to re-open ours."""
    run = run_modem(tmp_path, ["online:120", ctl("urc", '"+CGEV: NW PDN DEACT 2"'), "sleep:5",
                               ctl("urc", '"+CGEV: NW PDN DEACT 1"'), "sleep:15", "status",
                               "post:n10"], server=server)
    assert len(run.commands("AT+NETCLOSE")) == 1
    opens = [c for _t, c in run.sim.commands if c == "AT+NETOPEN"]
    assert len(opens) == 2                                     # at the start, after cid 1
    assert run.step("status")["status"]["state"] == "online"
    assert run.step("post").get("status") == 200


def test_sim800_session_timeout_below_the_firmware_wait(tmp_path, server):
    """SIM800's own HTTP session timeout (120 s by default) is set below the firmware's
    http_timeout_s, so the modem reports +HTTPACTION before the firmware gives up on it."""
    run = run_modem(tmp_path, ["online:120", "post:n10"], model="sim800", server=server,
                    config={"modem": {"http_timeout_s": 60}})
    assert run.step("post").get("status") == 200
    assert run.commands('AT+HTTPPARA="TIMEOUT",50'), run.commands("AT+HTTPPARA")
