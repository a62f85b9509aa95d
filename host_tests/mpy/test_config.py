# The configuration schema and the config store, inside MicroPython: every documented rule
# refuses a broken document naming the field, and a refused or half-written document never
# replaces the configuration the device runs.
import json
import os

import config_cases as cc
import cutflash
from meterlink.proto import config, configschema

BASE = cc.doc_example()


def test_the_documented_example_is_valid():
    errors, warnings = cc.run_case(config.check, config.ConfigError, BASE, lambda d: None)
    assert errors == [] and warnings == [], (errors, warnings)


def test_every_broken_rule_names_its_field():
    for case in cc.CASES:
        cc.expect_error(config.check, config.ConfigError, BASE, case)


def test_good_variants_pass():
    for name, mutate in cc.GOOD:
        errors, _ = cc.run_case(config.check, config.ConfigError, BASE, mutate)
        assert errors == [], (name, errors)


def test_the_defaults_are_valid():
    cfg = config.check({}, cc.PROFILES)
    assert cfg["send_period_min"] == config.DEFAULTS["send_period_min"]


def test_an_unknown_field_is_a_warning_not_a_refusal():
    doc = cc.copy(BASE)
    doc["send_period_mins"] = 5
    doc["meters"][0]["adress"] = "x"
    w = []
    config.check(doc, cc.PROFILES, w)
    assert "send_period_mins: unknown field, ignored" in w, w
    assert "meters[0].adress: unknown field, ignored" in w, w


def test_a_section_without_rules_must_keep_the_type_of_its_default():
    doc = cc.copy(BASE)
    doc["alarms"] = "none"
    try:
        config.check(doc, cc.PROFILES)
    except config.ConfigError as e:
        assert e.errors == ["alarms: must be an object, got 'none'"], e.errors
    else:
        raise AssertionError("alarms as text accepted")


def test_not_json_is_refused():
    try:
        config.parse('{"version": 1,', cc.PROFILES)
    except config.ConfigError as e:
        assert "not valid JSON" in str(e)
    else:
        raise AssertionError("broken JSON accepted")


def test_profile_names_come_from_the_profile_files():
    mp = cutflash.remount(cutflash.fresh())
    os.mkdir(mp + "/profiles")
    for f in ("klemsan_rapidus.json", "eastron_sdm630.json", "_schema.json"):
        with open(mp + "/profiles/" + f, "w") as fh:
            fh.write("{}")
    assert sorted(configschema.profile_names(mp + "/profiles")) == ["eastron_sdm630", "klemsan_rapidus"]
    assert configschema.profile_names(mp + "/nothing") is None


def _files(mp):
    return {"cfg": mp + "/config.json", "good": mp + "/config.good.json",
            "rej": mp + "/config.rejected.json"}


def _write(path, doc):
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))


def _load(p):
    return config.load(p["cfg"], cc.PROFILES, p["good"], p["rej"])


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def test_load_keeps_a_last_good_copy_and_refuses_a_bad_document():
    p = _files(cutflash.remount(cutflash.fresh()))
    cfg, err = _load(p)
    assert err is None and cfg["version"] == 0 and not _exists(p["good"])
    v7 = cc.copy(BASE)
    _write(p["cfg"], v7)
    cfg, err = _load(p)
    assert err is None and cfg["version"] == 7
    with open(p["good"]) as f:
        assert json.load(f)["version"] == 7
    bad = cc.copy(BASE)
    bad["version"] = 8
    bad["modbus"][0]["address"] = 0
    _write(p["cfg"], bad)
    cfg, err = _load(p)
    assert cfg["version"] == 7, cfg["version"]
    assert "modbus[0].address: must be 1 to 247" in err and "version 7" in err, err
    with open(p["cfg"]) as f:
        assert json.load(f)["version"] == 7        # config.json is what runs
    with open(p["rej"]) as f:
        assert json.load(f)["version"] == 8        # the refused one is kept for a look


def test_a_bad_document_without_a_good_copy_runs_the_defaults():
    p = _files(cutflash.remount(cutflash.fresh()))
    _write(p["cfg"], "{not json")
    cfg, err = _load(p)
    assert cfg == config.merge(config.DEFAULTS, {}) and "not valid JSON" in err and "defaults" in err
    assert not _exists(p["cfg"]) and _exists(p["rej"])


def test_a_power_cut_at_any_write_leaves_a_whole_configuration():
    # v7 is installed; v8 arrives as config.json.tmp and is renamed over it, then the device
    # loads it (which refreshes the last-good copy).  Cut the power at every write in turn.
    v7 = cc.copy(BASE)
    v8 = cc.copy(BASE)
    v8["version"] = 8
    budget = 0
    while True:
        dev = cutflash.fresh()
        p = _files(cutflash.MOUNT)
        _write(p["cfg"], v7)
        _load(p)
        dev.writes = 0
        dev.budget = budget
        try:
            config.write_atomic(p["cfg"], json.dumps(v8))
            _load(p)
            done = True
        except cutflash.PowerCut:
            done = False
        cutflash.remount(dev)
        cfg, err = _load(p)
        assert err is None and cfg["version"] in (7, 8), (budget, err)
        with open(p["good"]) as f:
            assert json.load(f)["version"] in (7, 8)
        if done:
            assert cfg["version"] == 8
            break
        budget += 1
    assert budget > 3, budget


def test_a_full_flash_keeps_the_old_configuration():
    # the write stops after part of the data; the file being replaced keeps its old content
    dev = cutflash.fresh()
    p = _files(cutflash.MOUNT)
    v7 = cc.copy(BASE)
    _write(p["cfg"], v7)
    filler = bytearray(2048)
    try:
        for i in range(200):
            with open(cutflash.MOUNT + "/filler%d" % i, "wb") as f:
                f.write(filler)
    except OSError:
        pass
    os.remove(cutflash.MOUNT + "/filler0")    # room for a little, not for the new document
    big = cc.copy(BASE)
    big["version"] = 9
    big["alarms"] = {"note": "x" * 20000}
    try:
        config.write_atomic(p["cfg"], json.dumps(big))
    except OSError:
        pass
    else:
        raise AssertionError("the flash did not fill up")
    with open(p["cfg"]) as f:
        assert json.load(f)["version"] == 7


def test_install_writes_only_a_valid_document():
    p = _files(cutflash.remount(cutflash.fresh()))
    v7 = json.dumps(cc.copy(BASE))
    assert config.install(v7, p["cfg"], cc.PROFILES)["version"] == 7
    bad = cc.copy(BASE)
    bad["modbus"][0]["line"] = "9600 7E1"
    try:
        config.install(json.dumps(bad), p["cfg"], cc.PROFILES)
    except config.ConfigError as e:
        assert e.errors == ["modbus[0].line: Modbus RTU needs 8 data bits, got '9600 7E1'"], e.errors
    else:
        raise AssertionError("a bad document was installed")
    with open(p["cfg"]) as f:
        assert f.read() == v7
