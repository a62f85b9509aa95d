"""Power cuts at every flash write of a spool workload (host board, LittleFS image that stops
after N block writes): after the restart the spool is consistent, every batch it had accepted
is still there byte for byte, acknowledged or counted as dropped, and no sequence number is
used twice."""
import asyncio
import shutil

from hostboard_util import HostBoard, script

EXIT_POWER_CUT = 86
SETS_PER_BATCH = 4


async def boot(hb, args, fail_after):
    hb.script_args = args
    hb.fail_after_writes = fail_after
    await hb.boot()
    return await hb.wait()


def parse_run(lines):
    """What the workload was promised: batch contents, pending, dropped and acked seqs."""
    sealed, pending, dropped, acked = {}, set(), set(), 0
    for line in lines:
        w = line.split()
        if w[:1] == ["SEALED"]:
            seq, first = int(w[1]), int(w[2])
            sealed[seq] = w[3]
            dropped |= {s for s in pending if s < first}
            pending = {s for s in pending if s >= first} | {seq}
        elif w[:1] == ["ACKED"]:
            acked = int(w[1])
            pending = {s for s in pending if s > acked}
    return sealed, pending, dropped, acked


def parse_check(lines):
    state, pending, nxt = None, {}, None
    for line in lines:
        w = line.split()
        if w[:1] == ["STATE"]:
            state = dict(zip(("acked", "dropped", "lost_batches", "lost_sets"), map(int, w[1:])))
        elif w[:1] == ["PENDING"]:
            pending[int(w[1])] = w[2]
        elif w[:1] == ["NEXT"]:
            nxt = int(w[1])
    return state, pending, nxt


def check_consistent(n, run_out, check_out):
    sealed, promised, dropped, acked = parse_run(run_out)
    state, pending, nxt = parse_check(check_out)
    where = "power cut after %d writes" % n
    assert state is not None and nxt is not None, (where, check_out)
    assert not any("discarded" in line or "Traceback" in line for line in check_out), (where, check_out)
    assert acked <= state["acked"], where                    # an ack that returned is durable
    for seq, h in pending.items():
        assert seq > max(state["acked"], state["dropped"]), (where, seq)
        if seq in sealed:
            assert h == sealed[seq], (where, "batch %d changed" % seq)
        else:
            # only the seal the power cut interrupted may appear without having reported
            assert seq > max(sealed, default=0), (where, seq)
    # every batch promised pending is still there, or was acked by the ack in progress, or
    # dropped (and counted) by the seal in progress
    gone = {s for s in promised if s not in pending and not (acked < s <= state["acked"])}
    assert state["lost_batches"] == len(dropped) + len(gone), (where, state, dropped, gone)
    assert state["lost_sets"] == SETS_PER_BATCH * state["lost_batches"], (where, state)
    assert nxt > max(list(sealed) + list(pending) + [0]), (where, "sequence number reused")


def test_power_cut_at_every_flash_write(tmp_path):
    async def go():
        n, points = 0, []
        while True:
            n += 1
            rundir = tmp_path / ("n%d" % n)
            hb = HostBoard(rundir, script=script("spool_powercut.py"), flash_blocks=48)
            run = await boot(hb, ["run"], n)
            if run.code == 0:
                assert "DONE" in run.output
                return n - 1, points
            assert run.code == EXIT_POWER_CUT, run.output
            chk = await boot(hb, ["check"], None)
            assert chk.code == 0, chk.output
            check_consistent(n, run.output, chk.output)
            points.append(n)
            shutil.rmtree(rundir)
            assert n < 5000

    writes, points = asyncio.run(go())
    # the workload opens, seals twelve batches, acknowledges twice and overflows the share
    assert writes >= 40 and points == list(range(1, writes + 1))


def test_the_workload_overflows_and_acknowledges(tmp_path):
    """Without a power cut the workload reaches the states the test above cuts into."""
    async def go():
        hb = HostBoard(tmp_path, script=script("spool_powercut.py"), flash_blocks=48)
        run = await boot(hb, ["run"], None)
        chk = await boot(hb, ["check"], None)
        return run, chk
    run, chk = asyncio.run(go())
    sealed, promised, dropped, acked = parse_run(run.output)
    state, pending, nxt = parse_check(chk.output)
    assert sorted(sealed) == list(range(1, 13)) and acked == 10 and len(dropped) >= 2
    assert state["lost_batches"] == len(dropped) and sorted(pending) == [11, 12] and nxt == 13
    check_consistent(0, run.output, chk.output)
