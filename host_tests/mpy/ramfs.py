# A LittleFS filesystem on a RAM block device, mounted at a fresh path, for tests that need
# the ESP32's flash filesystem without the host board.
import os
import vfs

_n = [0]


class RamBlocks:
    def __init__(self, blocks, block_size=4096):
        self.bs = block_size
        self.n = blocks
        self.data = bytearray(block_size * blocks)

    def readblocks(self, block, buf, offset=0):
        a = block * self.bs + offset
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        a = block * self.bs + (offset or 0)
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            a = arg * self.bs
            self.data[a:a + self.bs] = b"\xff" * self.bs
        return 0


def mount(blocks=32):
    """A blank LittleFS of `blocks` 4 KB blocks; returns its mount point (the previous one goes)."""
    if _n[0]:
        vfs.umount("/ram%d" % _n[0])
    import gc
    gc.collect()
    dev = RamBlocks(blocks)
    vfs.VfsLfs2.mkfs(dev)
    _n[0] += 1
    mp = "/ram%d" % _n[0]
    vfs.mount(vfs.VfsLfs2(dev), mp)
    return mp


def listdir(path):
    return sorted(os.listdir(path))
