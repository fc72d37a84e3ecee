#!/bin/sh
# Common post-image step: assemble the disk image described by the board's
# genimage.cfg from the images Buildroot left in $BINARIES_DIR (boot files,
# rootfs.squashfs for both slots). The board's post-image.sh passes the
# configuration file.
set -eu

GENIMAGE_CFG="${PBX_GENIMAGE_CFG:?PBX_GENIMAGE_CFG not set by the board script}"
: "${BINARIES_DIR:?run by Buildroot, which exports BINARIES_DIR}"
: "${BUILD_DIR:?run by Buildroot, which exports BUILD_DIR}"

GENIMAGE_TMP="$BUILD_DIR/genimage.tmp"
ROOTPATH_TMP=$(mktemp -d)
trap 'rm -rf "$ROOTPATH_TMP"' EXIT
rm -rf "$GENIMAGE_TMP"

# An empty rootpath: genimage only places pre-built images, it builds no
# filesystem from the target directory.
genimage \
	--rootpath "$ROOTPATH_TMP" \
	--tmppath "$GENIMAGE_TMP" \
	--inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" \
	--config "$GENIMAGE_CFG"
