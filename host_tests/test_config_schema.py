"""The configuration schema in CPython (the host tools' side), and proof that MicroPython and
CPython reach the same verdict on the same documents (one implementation, two interpreters)."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(HERE / "mpy"))

import config_cases as cc  # noqa: E402
from meterlink.proto import config, configfields  # noqa: E402
from meterlink_tools.hostboard import micropython_env, micropython_exe  # noqa: E402

BASE = cc.doc_example(str(ROOT))


@pytest.mark.parametrize("case", cc.CASES, ids=[c[0] for c in cc.CASES])
def test_broken_rule_names_its_field(case):
    cc.expect_error(config.check, config.ConfigError, BASE, case)


@pytest.mark.parametrize("name,mutate", cc.GOOD, ids=[g[0] for g in cc.GOOD])
def test_good_variant_passes(name, mutate):
    errors, _ = cc.run_case(config.check, config.ConfigError, BASE, mutate)
    assert errors == []


def test_line_settings_parse():
    assert configfields.parse_line("9600 8N1") == (9600, 8, "N", 1)
    assert configfields.parse_line("19200 8e2") == (19200, 8, "E", 2)
    assert configfields.parse_line("9600 7E1") == (9600, 7, "E", 1)
    for bad in ("9600", "9600 8N", "9600 9N1", "9600 8N3", "1234 8N1", "fast 8N1", 9600, None):
        assert configfields.parse_line(bad) is None, bad


def _mutants(n, seed=6):
    """Documents with one random field replaced by a random value."""
    rng = random.Random(seed)
    values = [None, -1, 0, 1, 250, 1e12, 1.5, True, "", "x" * 40, "9600 8N1", [], [1], {}, {"a": 1}]
    docs = []
    for _ in range(n):
        doc = cc.copy(BASE)
        node = doc
        while True:
            keys = list(range(len(node))) if isinstance(node, list) else list(node)
            if not keys:
                break
            k = rng.choice(keys)
            if isinstance(node[k], (dict, list)) and node[k] and rng.random() < 0.7:
                node = node[k]
                continue
            node[k] = rng.choice(values)
            break
        docs.append(doc)
    return docs


MPY_VERDICTS = r'''
import sys, json
sys.path.insert(0, "host_tests/mpy")
from meterlink.proto import config
import config_cases as cc
for line in sys.stdin:
    try:
        config.check(json.loads(line), cc.PROFILES)
        print(json.dumps([]))
    except config.ConfigError as e:
        print(json.dumps(sorted(e.errors)))
'''


def _verdict_cpython(doc):
    try:
        config.check(doc, cc.PROFILES)
        return []
    except config.ConfigError as e:
        return sorted(e.errors)


def test_micropython_and_cpython_agree_on_every_document():
    docs = _mutants(300) + [BASE]
    for _name, mutate, _f, _p in cc.CASES:
        d = cc.copy(BASE)
        mutate(d)
        docs.append(d)
    env = micropython_env()
    env.pop("METERLINK_HOSTBOARD", None)
    p = subprocess.run([micropython_exe(), "-X", "heapsize=4M", "-c", MPY_VERDICTS],
                       input="".join(json.dumps(d) + "\n" for d in docs), capture_output=True,
                       text=True, env=env, cwd=str(ROOT), timeout=120)
    mpy = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(mpy) == len(docs), p.stdout[-2000:] + p.stderr
    for doc, got in zip(docs, mpy):
        assert got == _verdict_cpython(doc), json.dumps(doc)[:400]
    refused = sum(1 for v in mpy if v)
    assert refused > len(docs) // 3     # the mutations really broke documents


def test_every_message_names_a_field():
    for doc in _mutants(300):
        for e in _verdict_cpython(doc):
            field = e.split(": ", 1)[0]
            assert field and " " not in field, e


def test_load_refuses_a_bad_file_and_keeps_the_last_good(tmp_path):
    cfg_path, good, rej = (str(tmp_path / n) for n in ("config.json", "good.json", "rejected.json"))
    (tmp_path / "config.json").write_text(json.dumps(BASE))
    cfg, err = config.load(cfg_path, cc.PROFILES, good, rej)
    assert err is None and cfg["version"] == 7
    assert json.loads((tmp_path / "good.json").read_text()) == BASE
    bad = cc.copy(BASE)
    bad["send_period_min"] = 500
    bad["version"] = 8
    (tmp_path / "config.json").write_text(json.dumps(bad))
    cfg, err = config.load(cfg_path, cc.PROFILES, good, rej)
    assert cfg["version"] == 7
    assert "send_period_min: must be 1 to 240, got 500" in err
    assert json.loads((tmp_path / "config.json").read_text())["version"] == 7
    assert json.loads((tmp_path / "rejected.json").read_text())["version"] == 8


SITE_L_LOAD = r'''
import gc
from meterlink.proto import config
gc.collect()
cfg, err = config.load("config.json", ["eastron_sdm630"], "good.json", "rejected.json")
print("RESULT", err, len(cfg["meters"]), len(cfg["modbus"]))
'''


def test_a_site_l_configuration_loads_in_a_small_heap(tmp_path):
    # 32 meters and 247 Modbus devices on one line: the checker must not need much memory
    # beyond the document itself (it once ran out at 256K by fragmenting the heap).
    doc = {"meters": [cc.meter(i, address="MSY%09d" % i) for i in range(32)],
           "modbus": [cc.modbus(i, i + 1) for i in range(247)]}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    env = micropython_env()
    env.pop("METERLINK_HOSTBOARD", None)
    p = subprocess.run([micropython_exe(), "-X", "heapsize=160K", "-c", SITE_L_LOAD], capture_output=True,
                       text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert "RESULT None 32 247" in p.stdout, p.stdout + p.stderr
