#!/bin/sh
# Common post-build step of the PBX appliance boards (Buildroot runs it with
# the target directory as $1; the board's post-build.sh sets the PBX_* board
# values below and execs this script).
#
# It writes what differs per board into the otherwise board-independent
# rootfs overlay: the UART of the installer console in /etc/inittab, the boot
# and data partitions in /etc/fstab, and /etc/pbx/board.env for the init
# scripts; and it records the firmware version.
set -eu

TARGET_DIR="${1:?usage: post-build.sh TARGET_DIR}"
: "${PBX_BOARD:?PBX_BOARD not set by the board script}"
: "${PBX_CONSOLE_TTY:?PBX_CONSOLE_TTY not set by the board script}"
: "${PBX_BOOT_DEV:?PBX_BOOT_DEV not set by the board script}"
: "${PBX_DATA_DEV:?PBX_DATA_DEV not set by the board script}"
PBX_CONSOLE_BAUD="${PBX_CONSOLE_BAUD:-115200}"

COMMON_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "$COMMON_DIR/../.." && pwd)

subst() {
	# Replace the @NAME@ placeholders of the overlay in place.
	sed -i \
		-e "s|@PBX_CONSOLE_TTY@|$PBX_CONSOLE_TTY|g" \
		-e "s|@PBX_CONSOLE_BAUD@|$PBX_CONSOLE_BAUD|g" \
		-e "s|@PBX_BOOT_DEV@|$PBX_BOOT_DEV|g" \
		-e "s|@PBX_DATA_DEV@|$PBX_DATA_DEV|g" \
		"$1"
}

for f in etc/inittab etc/fstab; do
	[ -f "$TARGET_DIR/$f" ] || { echo "post-build: $f missing from the target (is the rootfs overlay set?)" >&2; exit 1; }
	subst "$TARGET_DIR/$f"
done

mkdir -p "$TARGET_DIR/etc/pbx" "$TARGET_DIR/data" "$TARGET_DIR/boot"
cat > "$TARGET_DIR/etc/pbx/board.env" <<EOT
# Written by board/common/post-build.sh for board $PBX_BOARD.
PBX_BOARD="\${PBX_BOARD:-$PBX_BOARD}"
PBX_CONSOLE_TTY="\${PBX_CONSOLE_TTY:-$PBX_CONSOLE_TTY}"
PBX_CONSOLE_BAUD="\${PBX_CONSOLE_BAUD:-$PBX_CONSOLE_BAUD}"
PBX_BOOT_DEV="\${PBX_BOOT_DEV-$PBX_BOOT_DEV}"
PBX_DATA_DEV="\${PBX_DATA_DEV-$PBX_DATA_DEV}"
EOT

# Firmware version: the Python package's version plus the commit it was built
# from, shown by the console and checked by the updater.
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO_DIR/pyproject.toml")
commit=$(git -C "$REPO_DIR" describe --always --dirty 2>/dev/null || echo unknown)
printf '%s+%s %s\n' "$version" "$commit" "$PBX_BOARD" > "$TARGET_DIR/etc/pbx/version"

