"""A LittleFS block device backed by a host image file, like the ESP32's vfs partition.

`fail_after_writes` cuts the power after that many block programs or erases: the failing
program writes half its data and the process ends at once, as a brownout would end it.
"""
import sys

EXIT_POWER_CUT = 86


class FlashImage:
    def __init__(self, f, block_size, blocks, fail_after_writes=None):
        self.f = f
        self.bs = block_size
        self.n = blocks
        self.budget = fail_after_writes
        self.writes = 0
        # made once: an ESP32 erases in the flash driver, not with a block on the Python heap
        self._blank = b"\xff" * block_size

    def _spend(self, buf_or_none, pos):
        self.writes += 1
        if self.budget is not None and self.writes > self.budget:
            if buf_or_none is not None:
                self.f.seek(pos)
                self.f.write(buf_or_none[:len(buf_or_none) // 2])
                self.f.flush()
            print("host board: power cut after %d flash writes" % self.budget, file=sys.stderr)
            sys.exit(EXIT_POWER_CUT)

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        pos = block * self.bs + (offset or 0)
        self._spend(buf, pos)
        self.f.seek(pos)
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:   # block count
            return self.n
        if op == 5:   # block size
            return self.bs
        if op == 6:   # erase
            self._spend(None, 0)
            self.f.seek(arg * self.bs)
            self.f.write(self._blank)
            return 0
        return 0


def open_image(conf):
    """Open (creating if needed) the image file; call before the host root is unmounted."""
    bs = conf.get("block_size", 4096)
    n = conf.get("blocks", 512)
    path = conf["image"]
    try:
        f = open(path, "r+b")
    except OSError:
        f = open(path, "w+b")
        blank = b"\xff" * bs
        for _ in range(n):
            f.write(blank)
        f.flush()
    return FlashImage(f, bs, n, conf.get("fail_after_writes"))


def mount_root(dev):
    """Mount the image at / as the ESP32's _boot.py does, formatting a blank one."""
    import vfs
    try:
        fs = vfs.VfsLfs2(dev)
    except OSError:
        vfs.VfsLfs2.mkfs(dev)
        fs = vfs.VfsLfs2(dev)
    vfs.mount(fs, "/")
    return fs
