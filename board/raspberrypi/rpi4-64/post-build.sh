#!/bin/sh
# Post-build script of the Raspberry Pi 4 (64-bit) board: the board's values for
# board/common/post-build.sh (UART of the installer console, boot and data
# partitions of genimage.cfg).
set -eu
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
PBX_BOARD=raspberrypi4_64 \
PBX_CONSOLE_TTY=ttyAMA0 \
PBX_BOOT_DEV=/dev/mmcblk0p1 \
PBX_DATA_DEV=/dev/mmcblk0p4 \
	exec "$BOARD_DIR/../../common/post-build.sh" "$@"
