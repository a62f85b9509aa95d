"""Every modem scenario recovers, or reports clearly: SIM problems, coverage, registration,
data session drops, HTTP failures, a hung modem, a spontaneous reboot and a brownout."""
import pytest

from modem_util import Server, run_modem

MODELS = ["sim7600", "sim800"]
FAST = {"modem": {"session_wait_s": 30, "http_timeout_s": 60}}


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def ctl(name, value=None):
    """A simulator switch (with a value) or action (without; for "reboot": a delay in s)."""
    if value is None:
        return 'at:AT+SIMCTL="%s"' % name
    return 'at:AT+SIMCTL="%s",%s' % (name, value)


def posts_ok(run, *idx):
    for i in idx:
        assert run.step("post", i).get("status") == 200, run.step("post", i)


def test_sim_pin_is_reported_and_never_entered(tmp_path, server):
    run = run_modem(tmp_path, ["wait_state:sim_locked:60", "post:n10", "sleep:1300", "status"],
                    server=server, sim="pin")
    w = run.step("wait_state")
    assert w["ok"] and w["status"]["sim"] == "pin" and w["status"]["last_error"] == "sim_pin"
    post = run.step("post")
    assert post["error"] == "sim_pin" and post["t"] - w["t"] < 1     # at once, no waiting
    assert any("PIN" in line and "never enters" in line for line in run.output)
    assert run.hb.pin_state("LED_NET") == "~8"
    assert run.sim.pin_attempts == 0 and not run.commands("AT+CPIN=")
    # it keeps looking (every 10 minutes) without costing a PIN attempt
    assert len(run.commands("AT+CPIN?")) >= 3
    assert run.step("status")["status"]["state"] == "sim_locked"


def test_missing_sim_is_reported(tmp_path, server):
    run = run_modem(tmp_path, ["wait_state:no_sim:60", "post:n10"], server=server, sim="absent")
    assert run.step("wait_state")["ok"]
    assert run.step("post")["error"] == "no_sim"
    assert run.hb.pin_state("LED_NET") == "~8"
    assert not server.requests


def test_no_4g_coverage_registers_on_2g(tmp_path, server):
    run = run_modem(tmp_path, ["online:120", "post:n10"], server=server, lte=False)
    st = run.step("online")["status"]
    assert st["tech"] == "2G" and st["mode"] == "auto"
    assert run.commands("AT+CNMP=") == ["AT+CNMP=2"]      # the modem fell back by itself
    posts_ok(run, 0)
    assert run.hb.pin_state("LED_NET") == "~1"


def test_2g_only_sim_forces_2g_and_4g_is_tried_again(tmp_path, server):
    config = {"modem": {"fallback_after_s": 60, "retry_4g_min": 10}}
    run = run_modem(tmp_path, ["online:300", "post:n10", ctl("sim_2g_only", 0), "sleep:700",
                               "post:n10", "status"], server=server, config=config, sim_2g_only=True)
    first = run.step("online")["status"]
    assert first["tech"] == "2G" and first["mode"] == "2g"
    assert run.commands("AT+CNMP=") == ["AT+CNMP=2", "AT+CNMP=13", "AT+CNMP=2"]
    # denied on LTE at ~18 s; 2G only after fallback_after_s
    cnmp13 = [t for t, c in run.sim.commands if c == "AT+CNMP=13"][0]
    assert 60 <= cnmp13 - 18 <= 75
    later = run.step("status")["status"]
    assert later["tech"] == "4G" and later["mode"] == "auto"
    posts_ok(run, 0, 1)
    assert run.hb.pin_state("LED_NET") == 1


@pytest.mark.parametrize("model", MODELS)
def test_denied_registration_cured_by_a_radio_cycle(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:600", "post:n10"], model=model, server=server,
                    config={"modem": {"fallback_after_s": 60}}, reg_denied="until_cfun")
    assert run.step("online")["ok"]
    assert [d for _t, k, d in run.sim.events if k == "cfun"] == ["0", "1"]
    posts_ok(run, 0)


def test_denied_everywhere_climbs_the_ladder_and_reports(tmp_path, server):
    run = run_modem(tmp_path, ["sleep:1500", "post:n10"], model="sim800", server=server,
                    config=FAST, reg_denied=True)
    post = run.step("post")
    assert post["error"] == "no_network", post
    assert post["status"]["last_error"] == "no_network"
    cfun = [t for t, k, d in run.sim.events if k == "cfun" and d == "0"]
    cuts = [t for t, k, d in run.sim.events if k == "supply" and d == "off"]
    assert cfun and cuts and cfun[0] < cuts[0]                 # radio off/on before power
    ons = [t for t, k, d in run.sim.events if k == "supply" and d == "on"]
    offs = [ons[i + 1] - cuts[i] for i in range(min(len(cuts), len(ons) - 1))]
    assert len(offs) >= 2 and offs[1] > offs[0]               # the backoff grows


@pytest.mark.parametrize("model", MODELS)
def test_data_session_drop_mid_upload(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:120", ctl("pdp_drop_on_action", 1), "post:n10", "post:n20",
                               ctl("pdp_drop_after_server", 1), ctl("pdp_drop_on_action", 1), "post:n30",
                               "post:n40"], model=model, server=server)
    assert run.step("post")["error"] == "pdp"
    posts_ok(run, 1, 3)
    assert run.step("post", 2)["error"] == "pdp"
    # the dropped request that reached the server is there: the uplink's retry must be
    # idempotent; the one dropped before it is not
    assert [len(r["body"]) for r in server.requests] == [20, 30, 40]
    assert len(run.events("pdp")) >= 3                        # opened again each time


@pytest.mark.parametrize("model", MODELS)
def test_http_failures_are_reported_and_the_next_request_works(tmp_path, model):
    srv = Server(lambda body: (500, b"oops") if body[:1] == b"\x03" and len(body) == 7 else (200, b"ok"))
    try:
        run = run_modem(tmp_path, [
            "online:120", "post:n7",
            ctl("force_status", 503), "post:n10", ctl("force_status", 0),
            ctl("dns_fail", 1), "post:n10", ctl("dns_fail", 0),
            ctl("server_unreachable", 1), "post:n10", ctl("server_unreachable", 0),
            ctl("http_timeout", 1), "post:n10", ctl("http_timeout", 0),
            "post:n10"], model=model, server=srv, config=FAST)
    finally:
        srv.close()
    assert run.step("post")["status"] == 500 and run.step("post")["resp"] == b"oops".hex()
    assert run.step("post", 1)["status"] == 503
    assert [run.step("post", i)["error"] for i in (2, 3, 4)] == ["dns", "connect", "http_timeout"]
    posts_ok(run, 5)
    # the timeout comes from the modem's HTTP stack (SIM7600: 705 after 30 s) or from the
    # firmware's own deadline (SIM800 never answers): http_timeout_s = 60
    took = run.step("post", 4)["t"] - run.step("at", 6)["t"]
    assert (25 < took < 45) if model == "sim7600" else (55 < took < 80), took


@pytest.mark.parametrize("model", MODELS)
def test_hung_modem_is_power_cycled(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:120", ctl("hang"), "post:n10", "post:n20"], model=model,
                    server=server)
    assert run.step("post").get("error") == "modem_hung", run.output
    posts_ok(run, 1)
    assert [d for _t, k, d in run.sim.events if k == "supply"] == ["on", "off", "on"]


def test_hung_modem_without_supply_switch_gets_pwrkey(tmp_path, server):
    """A T-SIM7600 has no modem supply switch: PWRKEY held 3 s switches a hung modem off."""
    from meterlink_tools.sim.modem import ModemSim
    sim = ModemSim("sim7600", server_url=server.url, power_switch=False)
    run = run_modem(tmp_path, ["online:120", ctl("hang"), "post:n10", "post:n20"], modem=sim)
    assert run.step("post")["error"] == "modem_hung"
    posts_ok(run, 1)
    keys = [d for _t, k, d in sim.events if k == "pwrkey"]
    assert keys[0] == "500 ms" and "3000 ms" in keys
    assert ("PWRKEY off" in [d for _t, k, d in sim.events if k == "off"])


@pytest.mark.parametrize("model", MODELS)
def test_spontaneous_reboot_is_noticed(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:120", ctl("reboot", 2), "sleep:40", "status", "post:n10"],
                    model=model, server=server)
    st = run.step("status")["status"]
    assert st["reboots"] == 1 and st["state"] == "online"
    assert any("restarted by itself" in line for line in run.output)
    assert len(run.commands("AT+CMEE=2")) == 2                 # set up again after the reboot
    posts_ok(run, 0)


def test_startup_message_without_reboot_is_no_reboot(tmp_path, server):
    """A stray 'SMS DONE' from a modem that kept its settings is not a reboot."""
    from meterlink_tools.sim.modem import ModemSim
    sim = ModemSim("sim7600", server_url=server.url)
    run = run_modem(tmp_path, ["online:120", "sleep:30", ctl("urc", '"SMS DONE"'), "sleep:5",
                               "status", "post:n10"], modem=sim)
    assert run.step("status")["status"]["reboots"] == 0
    stray = run.step("at")["t"]
    assert len([t for t, c in sim.commands if c == "AT+CMEE?" and t > stray]) == 1   # it asked
    assert len(run.commands("AT+CMEE=2")) == 1                                       # no re-init
    posts_ok(run, 0)


@pytest.mark.parametrize("model", MODELS)
def test_brownout_during_upload(tmp_path, server, model):
    run = run_modem(tmp_path, ["online:120", ctl("brownout_on_action", 1), "post:n10", "post:n20"],
                    model=model, server=server)
    failed = run.step("post")
    assert failed["error"] == "modem_hung", failed
    # SIM800 says so; a SIM7600 just goes quiet and misses the keep-alive AT (20 s)
    assert failed["t"] - run.step("at")["t"] < (5 if model == "sim800" else 30)
    posts_ok(run, 1)
    assert run.events("brownout") and [len(r["body"]) for r in server.requests] == [20]
