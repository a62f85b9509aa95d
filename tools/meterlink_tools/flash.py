"""`meterlink flash`: write a MicroPython firmware image to an ESP32 with esptool v5's API, at the
offset MicroPython's image for that chip starts at, after checking that the image is whole and
built for the chip on the port."""
import sys
from pathlib import Path

from .cli import command

# Where MicroPython's firmware.bin (bootloader + partition table + app) starts, per chip
# (ports/esp32/boards/*/board.json deploy_options.flash_offset).
OFFSETS = {
    "ESP32": 0x1000, "ESP32-S2": 0x1000,
    "ESP32-S3": 0x0, "ESP32-C3": 0x0, "ESP32-C2": 0x0, "ESP32-C6": 0x0, "ESP32-H2": 0x0,
    "ESP32-C5": 0x2000, "ESP32-P4": 0x2000,
}
CHIPS = ("auto", "esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c2", "esp32c6", "esp32h2",
         "esp32c5", "esp32p4")
IMAGE_MAGIC = 0xE9
BAUD = 460800


class FlashError(Exception):
    pass


def chip_names():
    """esptool's chip classes by image chip id and by CLI name."""
    from esptool.targets import CHIP_DEFS
    by_id = {cls.IMAGE_CHIP_ID: cls.CHIP_NAME for cls in CHIP_DEFS.values()
             if cls.IMAGE_CHIP_ID is not None}
    return by_id, {name: cls.CHIP_NAME for name, cls in CHIP_DEFS.items()}


def image_chip(data):
    """The chip name an ESP image is built for, from its extended header (chip id at byte 12)."""
    if len(data) < 24 or data[0] != IMAGE_MAGIC:
        raise FlashError("not an ESP firmware image (no 0x%02X magic byte at its start)" % IMAGE_MAGIC)
    chip_id = int.from_bytes(data[12:14], "little")
    by_id, _ = chip_names()
    if chip_id not in by_id:
        raise FlashError("the image names an unknown chip id %d" % chip_id)
    return by_id[chip_id]


def check_image(data, chip_name):
    """The first image in the file (the bootloader of a merged firmware.bin) must parse with a
    valid checksum and SHA-256: a truncated or damaged download is refused before flashing."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError
    _, by_name = chip_names()
    cli_name = next(k for k, v in by_name.items() if v == chip_name)
    try:
        img = LoadFirmwareImage(cli_name, data)
    except (FatalError, ValueError, IndexError) as e:
        raise FlashError("the %s image does not parse: %s" % (chip_name, e)) from None
    if img.checksum != img.calculate_checksum():
        raise FlashError("the image is damaged (checksum 0x%02x, computed 0x%02x)"
                         % (img.checksum, img.calculate_checksum()))
    if getattr(img, "append_digest", False) and img.stored_digest != img.calc_digest:
        raise FlashError("the image is damaged (its SHA-256 does not match)")


def offset_for(chip_name):
    if chip_name in OFFSETS:
        return OFFSETS[chip_name]
    from esptool.targets import CHIP_DEFS
    for cls in CHIP_DEFS.values():
        if cls.CHIP_NAME == chip_name:
            return cls.BOOTLOADER_FLASH_OFFSET    # a chip MicroPython has no board for yet
    raise FlashError("no flash offset known for %s" % chip_name)


def plan(image, chip):
    """(chip name, offset) for this image; `chip` from --chip ('auto' or an esptool name)."""
    built_for = image_chip(image)
    check_image(image, built_for)
    if chip != "auto":
        _, by_name = chip_names()
        if by_name[chip] != built_for:
            raise FlashError("the image is for %s, not %s" % (built_for, by_name[chip]))
    return built_for, offset_for(built_for)


def connect(port, chip, baud):
    """An ESPLoader running the flasher stub, at `baud`."""
    from esptool import cmds
    if chip == "auto":
        esp = cmds.detect_chip(port, connect_mode="default-reset")
    else:
        from esptool.targets import CHIP_DEFS
        esp = CHIP_DEFS[chip](port)
        esp.connect("default-reset")
    esp = cmds.run_stub(esp)
    if baud and baud != esp.ESP_ROM_BAUD:
        esp.change_baud(baud)
    return esp


def flash(port, path, chip="auto", erase=False, baud=BAUD, offset=None, say=print):
    from esptool import cmds
    image = Path(path).read_bytes()
    built_for, at = plan(image, chip)
    if offset is not None:
        at = offset
    esp = connect(port, chip, baud)
    try:
        if esp.CHIP_NAME != built_for:
            raise FlashError("%s has a %s; the image is for %s" % (port, esp.CHIP_NAME, built_for))
        cmds.attach_flash(esp)
        if erase:
            say("erasing the whole flash (the filesystem, config and spool go too)...")
            cmds.erase_flash(esp)
        say("writing %s (%d kB) to %s at 0x%x" % (path, len(image) // 1024, esp.CHIP_NAME, at))
        cmds.write_flash(esp, [(at, str(path))], flash_mode="keep", flash_size="keep",
                         flash_freq="keep")
        cmds.reset_chip(esp, "hard-reset")
    finally:
        esp._port.close()
    return esp.CHIP_NAME, at


@command("flash", "write a MicroPython firmware image to an ESP32 (esptool)")
def main(args):
    from esptool.util import FatalError
    try:
        chip, at = flash(args.port, args.firmware, args.chip, args.erase, args.baud,
                         int(args.offset, 0) if args.offset else None)
    except FileNotFoundError:
        print("meterlink flash: %s: no such file" % args.firmware, file=sys.stderr)
        return 1
    except (FlashError, FatalError, OSError) as e:
        print("meterlink flash: %s" % e, file=sys.stderr)
        return 1
    print("flashed %s at 0x%x; next: meterlink deploy --port %s --board BOARD" % (chip, at, args.port))
    return 0


def _configure(p):
    p.add_argument("firmware", metavar="FIRMWARE.bin", help="MicroPython's firmware.bin for the chip")
    p.add_argument("--port", required=True, help="the board's serial port, or rfc2217://host:port")
    p.add_argument("--chip", choices=CHIPS, default="auto", help="default: detect it")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")
    p.add_argument("--baud", type=int, default=BAUD, help="transfer rate (default %(default)s)")
    p.add_argument("--offset", help="write at this offset instead of the chip's (e.g. 0x10000)")


main.configure = _configure
