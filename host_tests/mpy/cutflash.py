# A LittleFS on a RAM block device that can lose power: after `budget` block programs or
# erases the next one writes half its data and raises PowerCut, as a brownout would stop the
# chip mid-write.  remount() then sees what the flash holds.
import vfs

from ramfs import RamBlocks


class PowerCut(Exception):
    pass


class CutFlash(RamBlocks):
    """ramfs.RamBlocks (erased: all 0xFF) whose programs and erases spend the budget."""

    def __init__(self, blocks=32, block_size=4096):
        super().__init__(blocks, block_size)
        self.data[:] = b"\xff" * len(self.data)
        self.budget = None
        self.writes = 0

    def _spend(self):
        self.writes += 1
        return self.budget is not None and self.writes > self.budget

    def writeblocks(self, block, buf, offset=None):
        if self._spend():
            a = block * self.bs + (offset or 0)
            half = len(buf) // 2
            self.data[a:a + half] = buf[:half]
            raise PowerCut()
        super().writeblocks(block, buf, offset)

    def ioctl(self, op, arg):
        if op == 6 and self._spend():
            raise PowerCut()
        return super().ioctl(op, arg)


MOUNT = "/cut"


def fresh():
    dev = CutFlash()
    vfs.VfsLfs2.mkfs(dev)
    remount(dev)
    return dev


def remount(dev):
    """Mount dev at MOUNT (after a power cut: as the next boot would find it)."""
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass
    dev.budget = None
    vfs.mount(vfs.VfsLfs2(dev), MOUNT)
    return MOUNT
