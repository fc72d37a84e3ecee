#!/bin/sh
# Installs the system tools and libraries the appliance and its tests use: SIPp, baresip, espeak-ng, sox,
# libspandsp (G.722 and fax modems), busybox udhcpc and dnsmasq (network tests), shellcheck, chromium (web UI
# tests drive Debian's Chromium through Playwright; Playwright's own browser download is not used).
# Runs as root (CI, the development container) or through sudo.
set -eu
PKGS="sip-tester baresip espeak-ng sox libspandsp2 iproute2 busybox dnsmasq-base iputils-ping shellcheck chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# npm builds the web UI's JavaScript (JsSIP for the browser phone, `make webassets`); checked by command,
# not by package, because Node.js from NodeSource ships npm inside its own "nodejs" package.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
