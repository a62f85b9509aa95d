# MicroPython tests of the configuration loader (runs inside the unix port).
from meterlink.proto import config


def test_document_merges_over_defaults():
    cfg = config.parse('{"send_period_min": 5, "apn": {"name": "m2m"}}')
    assert cfg["send_period_min"] == 5
    assert cfg["apn"]["name"] == "m2m"
    assert cfg["apn"]["user"] == ""                      # untouched default kept
    assert cfg["ports"]["rs485"]["baudrate"] == 9600
    assert config.DEFAULTS["apn"]["name"] == "internet"  # the defaults are not modified


def test_lists_replace_rather_than_merge():
    cfg = config.parse('{"meters": [{"id": "M1"}]}')
    assert cfg["meters"] == [{"id": "M1"}]


def test_not_json_is_refused_with_a_message():
    try:
        config.parse("{send_period_min: 5")
    except config.ConfigError as e:
        assert "not valid JSON" in str(e)
    else:
        raise AssertionError("bad JSON accepted")


def test_a_non_object_document_is_refused():
    try:
        config.parse("[1, 2]")
    except config.ConfigError as e:
        assert "JSON object" in str(e)
    else:
        raise AssertionError("a list accepted as a configuration")


def test_missing_file_gives_defaults_without_error():
    cfg, err = config.load("/nonexistent/config.json")
    assert err is None and cfg["send_period_min"] == config.DEFAULTS["send_period_min"]
