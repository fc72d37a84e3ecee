#!/bin/sh
# Post-image script of the Raspberry Pi 4 (64-bit) board: sdcard.img from
# genimage.cfg (boot, root slot A, root slot B, data).
set -eu
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
PBX_GENIMAGE_CFG="$BOARD_DIR/genimage.cfg" \
	exec "$BOARD_DIR/../../common/post-image.sh" "$@"
