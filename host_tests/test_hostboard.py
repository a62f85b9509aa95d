"""The firmware skeleton on the host board, in virtual time: boot, LEDs, the watchdog, safe
mode, Ctrl-C, resets and the flash."""
import asyncio
import json
import signal
import time

import pytest

from hostboard_util import HostBoard, run_virtual, script
from meterlink_tools.hostboard import EXIT_POWER_CUT, WDT_RESET

CFG = {"watchdog": {"timeout_ms": 6000, "start_delay_s": 0, "confirm_after_s": 60}}


def boot_and_run(tmp_path, seconds, **kw):
    """Boot the real firmware, let it run `seconds` of virtual time, ask it to exit."""
    async def go(master):
        hb = HostBoard(tmp_path, clock=master, **kw)
        await hb.boot()
        waiter = asyncio.ensure_future(hb.wait())
        done, _ = await asyncio.wait({waiter}, timeout=seconds)
        if not done:
            hb.stop()
        await waiter
        return hb, master.now_us
    return run_virtual(go)


def test_firmware_boots_lights_power_and_starts_the_watchdog(tmp_path):
    hb, now = boot_and_run(tmp_path, 300, files={"config.json": json.dumps(CFG)})
    b = hb.boots[0]
    assert b.code == 0, b.output
    assert any("meterlink" in l and "on board host" in l and "reset cause: power-on" in l for l in b.output)
    assert any("hardware watchdog started (6000 ms)" in l for l in b.output)
    assert hb.pin_state("LED_POWER") == 1
    assert now == 300_000_000
    # the healthy run was confirmed: the crash-boot counter is back to 0 on flash
    assert hb.flash_image.exists()


def test_a_task_that_stops_reporting_gets_the_terminal_reset_by_the_watchdog(tmp_path):
    async def go(master):
        hb = HostBoard(tmp_path, clock=master, script=script("stuck_task.py"),
                       files={"config.json": json.dumps(CFG)})
        await hb.boot()
        b1 = await hb.wait()
        t_reset = master.now_us
        await hb.boot(WDT_RESET)
        waiter = asyncio.ensure_future(hb.wait())
        await asyncio.sleep(1)
        hb.stop()
        b2 = await waiter
        return b1, b2, t_reset
    b1, b2, t_reset = run_virtual(go)
    assert b1.code == 83, b1.output            # watchdog reset
    assert any("task 'stuck' stopped reporting" in l for l in b1.output)
    # the task promised 10 s; feeding stops at the first check after that, the 6 s WDT fires
    assert 10e6 < t_reset <= 10e6 + 2e6 + 6e6 + 1e6
    assert any("reset cause: watchdog" in l for l in b2.output), b2.output


def test_repeated_crashed_boots_end_in_safe_mode(tmp_path):
    async def go(master):
        hb = HostBoard(tmp_path, clock=master, script=script("stuck_task.py"),
                       files={"config.json": json.dumps(CFG)})
        return await hb.run(max_boots=6)
    boots = run_virtual(go)
    assert [b.code for b in boots] == [83, 83, 83, 0]
    assert any("SAFE MODE: 3 boots in a row without a healthy run" in l for l in boots[-1].output)


def test_safe_mode_button_keeps_the_app_from_starting(tmp_path):
    hb, _ = boot_and_run(tmp_path, 60, inputs={"SAFE_BUTTON": 0})
    out = hb.boots[0].output
    assert any("SAFE MODE (safe-mode button held at boot)" in l for l in out), out
    assert not any("on board host" in l for l in out)
    assert hb.pin_state("LED_POWER") in (None, 0)


def test_ctrl_c_stops_the_app_cleanly(tmp_path):
    async def go(master):
        hb = HostBoard(tmp_path, clock=master, files={"config.json": json.dumps(CFG)})
        await hb.boot()
        waiter = asyncio.ensure_future(hb.wait())
        await asyncio.sleep(30)
        hb.proc.send_signal(signal.SIGINT)
        return await waiter, hb
    b, hb = run_virtual(go)
    assert b.code == 0, b.output
    assert any("stopped (Ctrl-C)" in l for l in b.output), b.output
    assert hb.pin_state("LED_POWER") == 0


def test_rtc_and_its_memory_survive_a_reset_with_the_reset_cause(tmp_path):
    async def go(master):
        hb = HostBoard(tmp_path, clock=master, script=script("rtc_reset.py"))
        return await hb.run(max_boots=3)
    boots = run_virtual(go)
    assert boots[0].code == 82
    line = [l for l in boots[1].output if l.startswith("BOOT")][0]
    cause, t, mem = line.split()[1], int(line.split()[2]), line.split()[3]
    assert cause == "2"                       # HARD_RESET
    # 2026-11-23 12:00:00 UTC in seconds since 2000-01-01
    assert t == 1795435200 - 946684800
    assert mem == "b'kept'"


def test_the_flash_survives_a_power_cut_at_every_write_of_a_first_boot(tmp_path):
    """Count the flash writes of a first boot (provisioning config.json, the boot counter, the
    confirmation), then cut the power at each of them: the next boot always mounts the flash
    and starts the app."""
    cfg = {"watchdog": {"timeout_ms": 6000, "start_delay_s": 0, "confirm_after_s": 2}}

    async def one(master, rundir, cut):
        hb = HostBoard(rundir, clock=master, fail_after_writes=cut,
                       files={"config.json": json.dumps(cfg)})
        await hb.boot()
        waiter = asyncio.ensure_future(hb.wait())
        done, _ = await asyncio.wait({waiter}, timeout=10)
        if not done:
            hb.stop()
        b1 = await waiter
        if cut is None:
            return b1, None
        hb.fail_after_writes = None
        await hb.boot()
        waiter = asyncio.ensure_future(hb.wait())
        await asyncio.sleep(5)
        hb.stop()
        return b1, await waiter

    clean, _ = run_virtual(lambda m: one(m, tmp_path / "clean", None))
    total = clean.flash_writes
    assert clean.code == 0 and total and total >= 3, clean.output
    for cut in range(total):
        b1, b2 = run_virtual(lambda m: one(m, tmp_path / ("cut%d" % cut), cut))
        assert b1.code == EXIT_POWER_CUT, (cut, b1.output)
        assert b2.code == 0, (cut, b2.output)
        assert any("on board host" in l for l in b2.output), (cut, b2.output)
