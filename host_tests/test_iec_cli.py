"""`meterlink readout parse` (the firmware's parser in MicroPython on a capture file) and
`meterlink discover` (the firmware's discovery on the host board against simulated meters)."""
import json

from meterlink_tools import cli


def bcc(body):
    x = 0
    for c in body:
        x ^= c
    return x & 0x7F


IDENT = b"/LUN5<1>LUN.E.3P.T4\r\n"
DATA = (b"0.0.0(12345678)\r\n1.8.0(062846.236*kWh)\r\n1-0:2.8.0*255(000000.100*kWh)\r\n"
        b"1.6.0(000.060*kW)(24-06-12,17:15)\r\n32.7.0(220.86)(231.1*V)\r\n96.7.5(0969)(02:30:57)!\r\n")


def message(data=DATA, corrupt=False):
    body = data + b"\x03"
    return b"\x02" + body + bytes([bcc(body) ^ (1 if corrupt else 0)])


def run(capsys, tmp_path, content, *extra):
    f = tmp_path / "capture.bin"
    f.write_bytes(content)
    rc = cli.main(["readout", "parse", str(f)] + list(extra))
    out, err = capsys.readouterr()
    return rc, out, err


def test_capture_with_identification(capsys, tmp_path):
    rc, out, err = run(capsys, tmp_path, IDENT + message())
    assert rc == 0, err
    assert "identification: /LUN5<1>LUN.E.3P.T4" in out and "9600 Bd" in out and "<1>" in out
    assert "062846.236 kWh" in out and "BCC: verified" in out
    assert "24-06-12,17:15" in out
    assert err == ""


def test_json_records(capsys, tmp_path):
    rc, out, err = run(capsys, tmp_path, IDENT + message(), "--json")
    assert rc == 0
    recs = [json.loads(line) for line in out.splitlines()]
    sets = [r["set"] for r in recs if "set" in r]
    assert sets[2] == {"address": "1-0:2.8.0*255", "code": "2.8.0", "index": 1,
                       "value": "000000.100", "unit": "kWh"}
    assert [(s["code"], s["index"], s["value"]) for s in sets if s["code"] == "96.7.5"] == \
        [("96.7.5", 1, "0969"), ("96.7.5", 2, "02:30:57")]
    assert recs[0]["ident"]["flag"] == "LUN" and recs[0]["ident"]["generation"] == 1
    assert [r["block"]["bcc"] for r in recs if "block" in r] == [True]


def test_bad_bcc_prints_data_warns_and_fails(capsys, tmp_path):
    rc, out, err = run(capsys, tmp_path, IDENT + message(corrupt=True))
    assert rc == 1
    assert "062846.236 kWh" in out
    assert "BCC MISMATCH" in err
    rc, out, err = run(capsys, tmp_path, IDENT + message(corrupt=True), "--json")
    assert rc == 1 and "BCC MISMATCH" in err and '"bcc": false' in out


def test_lf_line_ends_and_bare_block(capsys, tmp_path):
    odd = DATA.replace(b"\r\n", b"\n", 1)        # one CR dropped: the BCC needs it back
    body = DATA + b"\x03"
    rc, out, err = run(capsys, tmp_path, b"\x02" + odd + b"\x03" + bytes([bcc(body)]))
    assert rc == 0, err
    assert "BCC: verified (with the CR" in out
    rc, out, err = run(capsys, tmp_path, DATA.replace(b"\r\n", b"\n"))
    assert rc == 0 and "bare data block" in out and "000.060 kW" in out


def test_partial_blocks_and_bad_lines(capsys, tmp_path):
    b1 = b"1.8.0(1.0*kWh)\r\n\x04"
    b2 = b"1.8.1(0.5*kWh)\r\n1.8.2 0.5\r\n!\r\n\x03"
    rc, out, err = run(capsys, tmp_path, b"\x02" + b1 + bytes([bcc(b1)]) + b"\x06\x02" + b2 + bytes([bcc(b2)]))
    assert rc == 1
    assert "BCC: verified, block 1" in out and "BCC: verified, block 2" in out
    assert "BAD LINE: '1.8.2 0.5'" in out and "0.5 kWh" in out


def test_truncated_and_missing_file(capsys, tmp_path):
    rc, out, err = run(capsys, tmp_path, IDENT + message()[:40])
    assert rc == 1 and "truncated" in err
    assert cli.main(["readout", "parse", str(tmp_path / "none")]) == 2


def test_discover_finds_every_simulated_meter(capsys):
    rc = cli.main(["discover", "--meters", "12", "--seed", "5", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0
    assert sorted(out["found"]) == out["simulated"] and len(out["found"]) == 12
    assert len(set(out["found"])) == 12


def load_capture(name):
    # host_tests/fixtures/*.cap through the same reader the MicroPython tests use
    import importlib.util
    from pathlib import Path
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("capture", here / "mpy" / "capture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load(name, str(here.parent) + "/")


def test_field_capture_with_a_wrong_bcc(capsys, tmp_path):
    rc, out, err = run(capsys, tmp_path, load_capture("iec_optical_300bd_bcc_off.cap"))
    assert rc == 1
    assert "BCC MISMATCH in block 1: got 0x75, computed 0x55" in err
    assert "007900.58" in out and "BAD LINE: '0.0.0(" in out and "(data set without ')')" in out


def test_field_capture_behind_wake_up_noise(capsys, tmp_path):
    data = load_capture("iec_tedas2023_unprogrammed.cap")
    rc, out, err = run(capsys, tmp_path, b"\x00\x7f/MAS5<3>VAN(M1.R1)\r\n" + data + bytes([bcc(data[1:])]),
                       "--json")
    recs = [json.loads(line) for line in out.splitlines()]
    assert recs[0]["ident"]["flag"] == "MAS" and recs[0]["ident"]["generation"] == 3
    assert [r["block"]["bcc"] for r in recs if "block" in r] == [True]
    bad = [r["bad_line"] for r in recs if "bad_line" in r]
    assert bad == ["96.92.0(" + "\\x7f" * 21 + ")", "96.1.3(" + "\\x7f" * 8 + ")"]
    assert {"address": "131.7.0", "code": "131.7.0", "index": 1, "value": "00000.0", "unit": "var"} \
        in [r["set"] for r in recs if "set" in r]
    assert rc == 1          # bad lines make the exit code 1
