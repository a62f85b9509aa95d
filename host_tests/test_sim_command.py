"""`meterlink sim` runs the firmware at a simulated site and exits by itself with a summary."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def meterlink(*args, timeout=300):
    exe = Path(sys.executable).parent / "meterlink"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_sim_runs_for_its_duration_and_ends_with_a_json_summary(tmp_path):
    p = meterlink("sim", "--duration", "5m", "--json", "--rundir", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    # the run lasts its duration, then drains the spool to the collector before it ends
    assert summary["duration_s"] == 300 and summary["simulated_s"] >= 300
    assert summary["boots"] == [{"cause": 1, "ended": "exit"}]
    assert summary["leds"]["LED_POWER"] == 1


def test_sim_refuses_bad_arguments_clearly():
    p = meterlink("sim", "--period", "0")
    assert p.returncode == 2 and "1 to 240" in p.stderr
    p = meterlink("sim", "--outage", "2h")
    assert p.returncode == 2 and "START+LENGTH" in p.stderr


def test_the_contract_commands_exist_with_help():
    """The `meterlink` commands named in the design are there (scripts and people use them)."""
    for args in (["sim"], ["bench"], ["readout", "parse"], ["collector"], ["config", "validate"],
                 ["config", "push"], ["flash"], ["deploy"], ["repl"], ["vdev"], ["device"],
                 ["provision"], ["logs"], ["discover"]):
        p = meterlink(*args, "--help", timeout=60)
        assert p.returncode == 0 and "usage: meterlink" in p.stdout, (args, p.stdout, p.stderr)
