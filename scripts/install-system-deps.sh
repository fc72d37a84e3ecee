#!/bin/sh
# Installs the system tools the test suite drives: SIPp, baresip, espeak-ng, sox.
# Runs as root (CI, the development container) or through sudo.
set -eu
PKGS="sip-tester baresip espeak-ng sox iproute2 busybox dnsmasq-base iputils-ping shellcheck"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
