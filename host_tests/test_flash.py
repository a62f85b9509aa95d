"""`meterlink flash` without a board: images made with esptool's own image classes and checked
with its offline commands (image-info, merge-bin); the calls into esptool.cmds recorded per chip."""
import subprocess
import sys
from pathlib import Path

import pytest
from esptool import cmds
from esptool.bin_image import ImageSegment
from esptool.targets import CHIP_DEFS

from meterlink_tools import cli

ESPTOOL = str(Path(sys.executable).parent / "esptool")

# MicroPython's firmware.bin start per chip (ports/esp32/boards/*/board.json, flash_offset)
EXPECTED_OFFSETS = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0,
                    "esp32c2": 0x0, "esp32c6": 0x0, "esp32h2": 0x0, "esp32c5": 0x2000,
                    "esp32p4": 0x2000}


def bootloader_image(chip, path):
    """A small valid image for `chip`, made by esptool's image class for it."""
    img = CHIP_DEFS[chip].BOOTLOADER_IMAGE()
    img.entrypoint = 0x40080400
    segs = [ImageSegment(0x3FFB0000, bytes(range(64))), ImageSegment(0x40080000, b"\x5a" * 512)]
    for s, name in zip(segs, (".dram0.data", ".iram0.text")):
        s.name = name
    img.segments = segs
    img.append_digest = True
    img.save(str(path))
    return path


def firmware_bin(chip, tmp_path):
    """A MicroPython-like firmware.bin: bootloader, partition table and app merged from the
    chip's offset with `esptool merge-bin`."""
    at = EXPECTED_OFFSETS[chip]
    boot = bootloader_image(chip, tmp_path / ("boot-%s.bin" % chip))
    (tmp_path / "pt.bin").write_bytes(b"\xaa\x50" + b"\xff" * 0xBFE)
    (tmp_path / "app.bin").write_bytes(b"\xe9" + b"\x00" * 4095)
    out = tmp_path / ("firmware-%s.bin" % chip)
    pt_at = max(0x8000, (at + boot.stat().st_size + 0xFFF) & ~0xFFF)
    p = subprocess.run([ESPTOOL, "--chip", chip, "merge-bin", "--target-offset", hex(at), "-o", str(out),
                        hex(at), str(boot), hex(pt_at), str(tmp_path / "pt.bin"),
                        hex(pt_at + 0x8000), str(tmp_path / "app.bin")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


class FakeEsp:
    ESP_ROM_BAUD = 115200

    def __init__(self, chip_name, log):
        self.CHIP_NAME = chip_name
        self.log = log
        self._port = self

    def change_baud(self, baud):
        self.log.append(("change_baud", baud))

    def close(self):
        self.log.append(("close",))


class Log(list):
    board = None     # the chip the fake board has


def test_esptool_itself_accepts_the_test_images(tmp_path):
    for chip in ("esp32", "esp32s3", "esp32c5"):
        boot = bootloader_image(chip, tmp_path / ("b-%s.bin" % chip))
        p = subprocess.run([ESPTOOL, "--chip", chip, "image-info", str(boot)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "Checksum: 0x" in p.stdout and "(valid)" in p.stdout
        assert "Validation hash" in p.stdout and "(invalid" not in p.stdout


@pytest.mark.parametrize("chip", sorted(EXPECTED_OFFSETS))
def test_flash_writes_at_the_chips_offset_with_progress_and_resets(chip, tmp_path, monkeypatch):
    log = Log()
    log.board = CHIP_DEFS[chip].CHIP_NAME
    _patch(monkeypatch, log)
    fw = firmware_bin(chip, tmp_path)
    assert cli.main(["flash", "--port", "/dev/ttyUSB7", str(fw)]) == 0
    names = [c[0] for c in log]
    assert names == ["detect_chip", "run_stub", "change_baud", "attach_flash", "write_flash",
                     "reset_chip", "close"]
    write = log[names.index("write_flash")]
    assert write[1] == [(EXPECTED_OFFSETS[chip], str(fw))]
    assert ("no_progress", True) not in write                  # esptool shows its progress bar
    assert log[names.index("reset_chip")][1] == "hard-reset"
    assert log[0][1] == "/dev/ttyUSB7"


def test_erase_comes_before_the_write(tmp_path, monkeypatch):
    log = Log()
    log.board = "ESP32"
    _patch(monkeypatch, log)
    fw = firmware_bin("esp32", tmp_path)
    assert cli.main(["flash", "--port", "/dev/ttyUSB0", "--erase", str(fw)]) == 0
    names = [c[0] for c in log]
    assert names.index("erase_flash") < names.index("write_flash")


def test_explicit_chip_connects_without_detection(tmp_path, monkeypatch):
    log = Log()
    log.board = "ESP32-S3"
    _patch(monkeypatch, log)
    made = []

    class S3(CHIP_DEFS["esp32s3"]):        # the real class, without a serial port
        def __init__(self, port, *a, **kw):
            self._port = FakeEsp("ESP32-S3", log)
            made.append(port)

        def connect(self, mode="default-reset", *a, **kw):
            log.append(("connect", mode))

        def change_baud(self, baud):
            log.append(("change_baud", baud))

    monkeypatch.setitem(CHIP_DEFS, "esp32s3", S3)
    fw = firmware_bin("esp32s3", tmp_path)
    assert cli.main(["flash", "--port", "/dev/ttyACM0", "--chip", "esp32s3", str(fw)]) == 0
    assert made == ["/dev/ttyACM0"] and "detect_chip" not in [c[0] for c in log]
    assert [c for c in log if c[0] == "write_flash"][0][1] == [(0x0, str(fw))]


def test_an_image_for_another_chip_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    log = Log()
    log.board = "ESP32"
    _patch(monkeypatch, log)
    fw = firmware_bin("esp32s3", tmp_path)
    assert cli.main(["flash", "--port", "/dev/ttyUSB0", "--chip", "esp32", str(fw)]) == 1
    assert log == []                                            # not even connected
    assert "for ESP32-S3, not ESP32" in capsys.readouterr().err
    assert cli.main(["flash", "--port", "/dev/ttyUSB0", str(fw)]) == 1     # auto: the board says ESP32
    assert "write_flash" not in [c[0] for c in log]
    assert "has a ESP32; the image is for ESP32-S3" in capsys.readouterr().err


def test_a_damaged_image_is_refused(tmp_path, monkeypatch, capsys):
    log = Log()
    log.board = "ESP32"
    _patch(monkeypatch, log)
    fw = firmware_bin("esp32", tmp_path)
    data = bytearray(fw.read_bytes())
    data[0x40] ^= 0xFF                                          # inside the first segment
    fw.write_bytes(bytes(data))
    p = subprocess.run([ESPTOOL, "--chip", "esp32", "image-info", str(fw)], capture_output=True, text=True)
    assert "invalid" in p.stdout + p.stderr                     # esptool agrees it is damaged
    assert cli.main(["flash", "--port", "/dev/ttyUSB0", str(fw)]) == 1
    assert log == [] and "damaged" in capsys.readouterr().err
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 4096)
    assert cli.main(["flash", "--port", "/dev/ttyUSB0", str(tmp_path / "junk.bin")]) == 1
    assert "not an ESP firmware image" in capsys.readouterr().err


def test_the_real_esptool_reports_a_missing_port(tmp_path, capsys):
    fw = firmware_bin("esp32", tmp_path)
    assert cli.main(["flash", "--port", "/dev/nonexistent-esp", str(fw)]) == 1
    assert "/dev/nonexistent-esp" in capsys.readouterr().err


def _patch(monkeypatch, log):
    def detect_chip(port, baud=115200, connect_mode="default-reset", **kw):
        log.append(("detect_chip", port, connect_mode))
        return FakeEsp(log.board, log)

    def record(name):
        def fn(esp, *args, **kw):
            log.append((name,) + args + tuple(sorted(kw.items())))
            return esp if name == "run_stub" else None
        return fn

    monkeypatch.setattr(cmds, "detect_chip", detect_chip)
    for name in ("run_stub", "attach_flash", "erase_flash", "write_flash", "reset_chip"):
        monkeypatch.setattr(cmds, name, record(name))
