#!/bin/sh
# Post-build script of the QEMU aarch64 virt board: the board's values for
# board/common/post-build.sh (UART of the installer console, boot and data
# partitions of genimage.cfg).
set -eu
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
PBX_BOARD=qemu_aarch64_virt \
PBX_CONSOLE_TTY=ttyAMA0 \
PBX_BOOT_DEV=/dev/vda1 \
PBX_DATA_DEV=/dev/vda4 \
	exec "$BOARD_DIR/../../common/post-build.sh" "$@"
