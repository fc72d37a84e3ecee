#!/bin/sh
# Post-image script of the QEMU aarch64 virt board: disk.img from
# genimage.cfg (boot, root slot A, root slot B, data) and a start script.
set -eu
BOARD_DIR=$(cd "$(dirname "$0")" && pwd)
PBX_GENIMAGE_CFG="$BOARD_DIR/genimage.cfg" "$BOARD_DIR/../../common/post-image.sh" "$@"

# U-Boot is the machine's firmware (-bios); it finds boot.scr on the disk.
cat > "$BINARIES_DIR/start-qemu.sh" <<'EOT'
#!/bin/sh
# Boots the PBX appliance image under QEMU; the installer console is this
# terminal (ttyAMA0). Extra QEMU arguments are passed through.
cd "$(dirname "$0")"
exec qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2 -m 1024 -nographic \
	-bios u-boot.bin \
	-drive file=disk.img,if=none,format=raw,id=hd0 \
	-device virtio-blk-device,drive=hd0 \
	-netdev user,id=eth0 -device virtio-net-device,netdev=eth0 \
	-device i6300esb \
	"$@"
EOT
chmod +x "$BINARIES_DIR/start-qemu.sh"
