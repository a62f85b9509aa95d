"""The collector's management side: the registry (keys, box-label codes, claims, removal), each
device's status, readings queries and CSV export, the JSON API and its token, and the CLI
(`meterlink device`, `readings`, `config push`) on a database and against a running collector."""
import csv
import io
import json
import re
import subprocess
import sys

import pytest

from meterlink_tools import cli
from meterlink_tools.collector import Collector, RegistryError, create_app, serve_in_thread
from meterlink_tools.collector.views import Views, parse_time
from uplink_util import DeviceDouble, ev

KEY = bytes(range(32))
T0 = 1767225600            # 2026-01-01T00:00:00Z
STATUS = [(ev.ST_CFG_VERSION, 3), (ev.ST_CSQ, 21), (ev.ST_RSSI, -71), (ev.ST_TECH, "4G"),
          (ev.ST_OPERATOR, "Meterlink Mobile"), (ev.ST_USAGE_MONTH, "2026-01"), (ev.ST_USAGE_UP, 12000),
          (ev.ST_USAGE_DOWN, 3400), (ev.ST_LOST_SETS, 2), (ev.ST_LOST_BATCHES, 1), (ev.ST_PENDING, 0),
          (ev.ST_UPLOAD_FAILS, 4), (ev.ST_LOG_ERRORS, 1), (ev.ST_TASK_FAILS, 0), (ev.ST_FW, "0.1.0")]


def readings_of(dev):
    """Three meter sets a minute apart and two Modbus sets, one of them before the clock was set."""
    meter = [("meter:M1", T0 + 60 * i, True, {"1.8.0": ("%d.5" % (1000 + i), "kWh"), "32.7.0": ("230.1", "V")})
             for i in range(3)]
    relay = [("mb:rs485:5", T0 + 90, True, {"step": (3, None), "cos_phi": ("0.98", None)}),
             ("mb:rs485:5", 946684800 + 30, False, {"step": (2, None), "cos_phi": ("0.97", None)})]
    return [dev.batch(meter), dev.batch(relay)]


@pytest.fixture
def env(tmp_path):
    c = Collector(tmp_path / "c.db", clock=lambda: T0 + 300)
    reg = c.register("dev-1", note="Substation 7", key=KEY)
    client = create_app(c).test_client()
    dev = DeviceDouble("dev-1", KEY)
    r = client.post("/i", data=dev.request(readings_of(dev), status=STATUS))
    assert r.status_code == 200
    return c, client, reg


def test_register_gives_a_key_and_a_label_code_kept_only_hashed(env):
    c, _, reg = env
    assert reg["key"] == KEY.hex()
    assert re.fullmatch(r"[A-HJ-KM-NP-Z2-9]{4}-[A-HJ-KM-NP-Z2-9]{4}-[A-HJ-KM-NP-Z2-9]{4}", reg["auth_code"])
    stored = c.db.execute("SELECT auth_hash FROM devices").fetchone()[0]
    assert reg["auth_code"] not in stored and len(stored) == 64
    new = c.register("dev-2")
    assert len(bytes.fromhex(new["key"])) == 32 and new["auth_code"] != reg["auth_code"]
    with pytest.raises(RegistryError) as e:
        c.register("dev-1")
    assert e.value.status == 409
    with pytest.raises(RegistryError):
        c.register("bad id with spaces")


def test_claim_needs_the_code_and_keeps_the_first_owner(env):
    c, _, reg = env
    with pytest.raises(RegistryError) as e:
        c.claim("dev-1", "AAAA-BBBB-CCCC", "acme")
    assert e.value.status == 403
    assert c.claim("dev-1", reg["auth_code"].lower().replace("-", " "), "acme")["owner"] == "acme"
    with pytest.raises(RegistryError) as e:
        c.claim("dev-1", reg["auth_code"], "other")
    assert e.value.status == 409


def test_claims_with_wrong_codes_are_limited_per_device(tmp_path):
    now = [T0]
    c = Collector(tmp_path / "c.db", clock=lambda: now[0])
    reg = c.register("dev-1")
    c.register("dev-2")
    for _ in range(5):
        with pytest.raises(RegistryError) as e:
            c.claim("dev-1", "AAAA-BBBB-CCCC", "mallory")
        assert e.value.status == 403
    now[0] += 600
    with pytest.raises(RegistryError) as e:           # even the right code waits now
        c.claim("dev-1", reg["auth_code"], "acme")
    assert e.value.status == 429 and "try again in 301 s" in str(e.value)
    with pytest.raises(RegistryError) as e:           # another device is not affected
        c.claim("dev-2", "AAAA-BBBB-CCCC", "mallory")
    assert e.value.status == 403
    now[0] += 301
    assert c.claim("dev-1", reg["auth_code"], "acme")["owner"] == "acme"
    client = create_app(c).test_client()
    for _ in range(4):
        client.post("/api/devices/dev-2/claim", json={"code": "XXXX", "owner": "o"})
    r = client.post("/api/devices/dev-2/claim", json={"code": "XXXX", "owner": "o"})
    assert r.status_code == 429 and "too many wrong" in r.json["error"]


def test_removed_device_is_refused_and_keeps_its_readings_unless_purged(env):
    c, client, _ = env
    assert c.remove_device("dev-1")
    dev = DeviceDouble("dev-1", KEY, boot=2)
    assert client.post("/i", data=dev.request([])).status_code == 403
    assert c.stats()["stored"] == 5
    c.add_device("dev-1", KEY)
    assert c.remove_device("dev-1", purge=True)
    assert c.stats()["stored"] == 0 and not c.remove_device("dev-1")


def test_device_status_shows_the_latest_report(env):
    c, _, _ = env
    d = Views(c).device("dev-1")
    assert d["note"] == "Substation 7" and d["last_seen"] == "2026-01-01T00:05:00Z"
    assert d["config"] == {"running": 3, "waiting": None}
    assert d["signal"] == {"csq": 21, "rssi_dbm": -71} and d["tech"] == "4G"
    assert d["operator"] == "Meterlink Mobile"
    assert d["usage"] == {"month": "2026-01", "up": 12000, "down": 3400}
    assert d["errors"]["upload_failures"] == 4 and d["spool"] == {"lost_batches": 1, "lost_sets": 2, "pending": 0}
    assert d["uploads"]["count"] == 1 and d["readings"]["sets"] == 5
    assert Views(c).device("dev-9") is None


def test_readings_by_device_source_key_and_time(env):
    c, _, _ = env
    v = Views(c)
    every = list(v.reading_sets(device="dev-1"))
    assert [(s["source"], s["t"]) for s in every] == [
        ("mb:rs485:5", None), ("meter:M1", T0), ("meter:M1", T0 + 60), ("mb:rs485:5", T0 + 90),
        ("meter:M1", T0 + 120)]
    assert every[0]["clock_ok"] is False and every[0]["device_time"] == "2000-01-01T00:00:30Z"
    assert every[1]["values"] == {"1.8.0": ["1000.5", "kWh"], "32.7.0": ["230.1", "V"]}
    assert [s["t"] for s in v.reading_sets(source="meter:*")] == [T0, T0 + 60, T0 + 120]
    got = list(v.reading_sets(keys=["cos_phi"]))
    assert [s["values"] for s in got] == [{"cos_phi": ["0.97", None]}, {"cos_phi": ["0.98", None]}]
    rng = list(v.reading_sets(since=parse_time("2026-01-01T00:01:00Z"), until=T0 + 120))
    assert [(s["source"], s["t"]) for s in rng] == [("meter:M1", T0 + 60), ("mb:rs485:5", T0 + 90)]
    assert len(list(v.reading_sets(limit=2))) == 2
    assert list(v.reading_sets(device="dev-9")) == []


def test_csv_has_one_row_per_reading(env):
    c, _, _ = env
    text = "".join(Views(c).csv_chunks(source="meter:M1", since=T0 + 60))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["device", "source", "time", "key", "value", "unit", "clock_ok", "device_time"]
    assert rows[1:] == [
        ["dev-1", "meter:M1", "2026-01-01T00:01:00Z", "1.8.0", "1001.5", "kWh", "1", "2026-01-01T00:01:00Z"],
        ["dev-1", "meter:M1", "2026-01-01T00:01:00Z", "32.7.0", "230.1", "V", "1", "2026-01-01T00:01:00Z"],
        ["dev-1", "meter:M1", "2026-01-01T00:02:00Z", "1.8.0", "1002.5", "kWh", "1", "2026-01-01T00:02:00Z"],
        ["dev-1", "meter:M1", "2026-01-01T00:02:00Z", "32.7.0", "230.1", "V", "1", "2026-01-01T00:02:00Z"]]


@pytest.mark.parametrize("text,want", [
    ("1767225600", T0), ("2026-01-01", T0), ("2026-01-01T06:30", T0 + 6 * 3600 + 1800),
    ("2026-01-01T06:30:15Z", T0 + 6 * 3600 + 1815), ("2026-01-01T06:30:00+03:00", T0 + 3 * 3600 + 1800),
    ("", None)])
def test_times_are_unix_seconds_or_iso_8601(text, want):
    assert parse_time(text) == want


def test_parse_time_refuses_other_text():
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_api_json_routes(env):
    c, client, _ = env
    r = client.post("/api/devices", json={"device_id": "dev-2", "note": "spare"})
    assert r.status_code == 201 and len(r.json["key"]) == 64
    assert [d["device_id"] for d in client.get("/api/devices").json["devices"]] == ["dev-1", "dev-2"]
    assert client.get("/api/devices/dev-1").json["status"]["operator"] == "Meterlink Mobile"
    assert client.get("/api/devices/nope").status_code == 404
    doc = {"version": 4, "send_period_min": 10, "server": {"url": "http://c/i"}, "apn": {"name": "x"}}
    r = client.post("/api/devices/dev-1/configs", data=json.dumps(doc))
    assert r.status_code == 201 and r.json["version"] == 4
    r = client.post("/api/devices/dev-1/configs", data=json.dumps(dict(doc, send_period_min=0)))
    assert r.status_code == 400 and r.json["errors"] == ["send_period_min: must be 1 to 240, got 0"]
    r = client.post("/api/devices/dev-1/configs?bump=1", data=json.dumps(doc))
    assert r.status_code == 201 and r.json["version"] == 5
    assert [x["state"] for x in client.get("/api/devices/dev-1/configs").json["configs"]] == ["superseded", "queued"]
    assert client.get("/api/devices/dev-1/configs/5").json["version"] == 5
    assert client.delete("/api/devices/dev-1/configs/5").json["state"] == "cancelled"
    sets = client.get("/api/readings?device=dev-1&source=meter:M1&key=1.8.0&limit=2").json["readings"]
    assert [s["values"] for s in sets] == [{"1.8.0": ["1000.5", "kWh"]}, {"1.8.0": ["1001.5", "kWh"]}]
    r = client.get("/api/devices/dev-1/readings?format=csv&from=2026-01-01T00:02:00Z")
    assert r.content_type.startswith("text/csv") and r.data.decode().count("\r\n") == 1 + 2
    assert client.get("/api/readings?from=soon").status_code == 400
    r = client.post("/api/devices/dev-2/claim", json={"code": "XXXX", "owner": "o"})
    assert r.status_code == 403
    assert client.delete("/api/devices/dev-2").json["removed"] is True


def test_api_needs_the_token_or_a_local_client(tmp_path):
    c = Collector(tmp_path / "c.db")
    guarded = create_app(c, token="s3cret").test_client()
    assert guarded.get("/api/devices").status_code == 401
    assert guarded.get("/api/devices", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert guarded.get("/api/devices", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    open_ = create_app(c).test_client()
    assert open_.get("/api/devices").status_code == 200
    assert open_.get("/api/devices", environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 403
    # the ingest stays open: it is signed
    assert guarded.post("/i", data=b"").status_code == 400


def run_cli(capsys, *argv):
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_on_a_database(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_cli(capsys, "device", "add", "T-0042", "--note", "Substation 7")
    assert rc == 0 and "authorisation code" in out
    key = re.search(r"device key:\s+([0-9a-f]{64})", out).group(1)
    assert "meterlink provision --port PORT --device-id T-0042 --key %s" % key in out
    rc, out, err = run_cli(capsys, "device", "add", "T-0042")
    assert rc == 1 and "already registered" in err
    (tmp_path / "site.json").write_text(json.dumps({"version": 1, "send_period_min": 5,
                                                    "server": {"url": "http://c/i"}, "apn": {"name": "x"}}))
    rc, out, _ = run_cli(capsys, "config", "push", "T-0042", "site.json")
    assert rc == 0 and "version 1 queued" in out
    rc, out, err = run_cli(capsys, "config", "push", "T-0042", "site.json")
    assert rc == 1 and "version: 1 is not newer" in err and "--bump" in err
    rc, out, _ = run_cli(capsys, "config", "push", "T-0042", "site.json", "--bump")
    assert rc == 0 and "version 2 queued" in out
    (tmp_path / "bad.json").write_text(json.dumps({"version": 9, "meters": [{"id": "M1", "port": "rs9"}]}))
    rc, out, err = run_cli(capsys, "config", "push", "T-0042", "bad.json")
    assert rc == 1 and "bad.json: meters[0].port: unknown port 'rs9'" in err
    rc, out, _ = run_cli(capsys, "device", "list")
    assert rc == 0 and re.search(r"^T-0042\s+never\s+- \(2 queued\)", out, re.M)
    rc, out, _ = run_cli(capsys, "device", "show", "T-0042")
    assert rc == 0 and re.search(r"^\s+1\s+superseded", out, re.M) and re.search(r"^\s+2\s+queued", out, re.M)
    rc, out, _ = run_cli(capsys, "device", "show", "T-0042", "--json")
    assert json.loads(out)["configs"][1]["version"] == 2
    rc, out, _ = run_cli(capsys, "config", "cancel", "T-0042", "2")
    assert rc == 0
    rc, out, _ = run_cli(capsys, "readings", "--device", "T-0042", "--csv")
    assert rc == 0 and out == "device,source,time,key,value,unit,clock_ok,device_time\r\n"
    rc, out, err = run_cli(capsys, "device", "list", "--db", "missing.db")
    assert rc == 1 and "no collector database at missing.db" in err


def test_cli_against_a_running_collector(env, tmp_path, capsys):
    c, _, _ = env
    srv = serve_in_thread(c, token="t0ken")
    base = srv.url[:-2]
    try:
        rc, out, err = run_cli(capsys, "device", "list", "--collector", base)
        assert rc == 1 and "Authorization: Bearer" in err
        rc, out, _ = run_cli(capsys, "device", "list", "--collector", srv.url, "--token", "t0ken")
        assert rc == 0 and re.search(r"^dev-1\s+2026-01-01T00:05:00Z\s+3\s+4G\s+Meterlink Mobile\s+21\s+15\.4\s+2\s+5$",
                                     out, re.M), out
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps({"version": 7, "send_period_min": 5, "server": {"url": "http://c/i"},
                                   "apn": {"name": "x"}}))
        rc, out, _ = run_cli(capsys, "config", "push", "dev-1", str(cfg), "--collector", base, "--token", "t0ken")
        assert rc == 0 and "version 7 queued" in out
        assert c.configs.history("dev-1")[0]["version"] == 7
        out_file = tmp_path / "r.csv"
        rc, _, _ = run_cli(capsys, "readings", "--collector", base, "--token", "t0ken", "--source", "mb:*",
                           "--csv", "-o", str(out_file))
        rows = list(csv.reader(out_file.open()))
        assert rc == 0 and [r[3:5] for r in rows[1:]] == [["step", "2"], ["cos_phi", "0.97"],
                                                           ["step", "3"], ["cos_phi", "0.98"]]
        assert rows[1][2] == "" and rows[1][7] == "2000-01-01T00:00:30Z"     # time unknown: flagged
        rc, out, _ = run_cli(capsys, "readings", "--collector", base, "--token", "t0ken", "--json",
                             "--key", "1.8.0", "--from", "2026-01-01T00:01:00Z")
        assert [json.loads(x)["values"]["1.8.0"][0] for x in out.splitlines()] == ["1001.5", "1002.5"]
    finally:
        srv.stop()


def test_the_installed_command_has_device_and_readings():
    p = subprocess.run([sys.executable, "-m", "meterlink_tools.cli", "device", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "add" in p.stdout and "claim" in p.stdout
    p = subprocess.run([sys.executable, "-m", "meterlink_tools.cli", "readings", "--from", "soon"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "ISO 8601" in p.stderr
