# A LittleFS on a RAM block device that can lose power: after `budget` block programs or
# erases the next one writes half its data and raises PowerCut, as a brownout would stop the
# chip mid-write.  remount() then sees what the flash holds.
import vfs


class PowerCut(Exception):
    pass


class CutFlash:
    def __init__(self, blocks=32, block_size=4096):
        self.bs = block_size
        self.n = blocks
        self.data = bytearray(b"\xff" * (block_size * blocks))
        self.budget = None
        self.writes = 0

    def _spend(self):
        self.writes += 1
        return self.budget is not None and self.writes > self.budget

    def readblocks(self, block, buf, offset=0):
        a = block * self.bs + offset
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        a = block * self.bs + (offset or 0)
        if self._spend():
            half = len(buf) // 2
            self.data[a:a + half] = buf[:half]
            raise PowerCut()
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            if self._spend():
                raise PowerCut()
            a = arg * self.bs
            self.data[a:a + self.bs] = b"\xff" * self.bs
        return 0


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
