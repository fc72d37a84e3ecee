# U-Boot script of the PBX appliance: A/B root slots with boot-count rollback.
#
# Disk layout (board/*/genimage.cfg): 1 = boot (FAT: firmware, U-Boot, this
# script, uboot.env), 2 = root slot A, 3 = root slot B (squashfs, each with its
# own kernel in /boot/Image), 4 = /data (ext4, formatted on first boot).
#
# Environment (saved in uboot.env on partition 1, shared with Linux through
# fw_printenv/fw_setenv and /usr/sbin/pbx-slot):
#   BOOT_ORDER   slots to try, first = preferred   (default "A B")
#   BOOT_A_LEFT  attempts left for slot A          (default 3)
#   BOOT_B_LEFT  attempts left for slot B          (default 3)
# Every boot spends one attempt of the slot it boots; Linux gives the
# attempts back once the slot proved healthy (/etc/init.d/S99slotok). A slot
# that fails 3 times in a row (kernel panic -> panic=5 reboot, watchdog, or a
# trial boot that never became healthy) is skipped and the other slot boots.

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv pbx_slot
for s in ${BOOT_ORDER}; do
	if test -z "${pbx_slot}"; then
		if test "${s}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
			setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
			setenv pbx_slot A
			setenv pbx_rootpart 2
		elif test "${s}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
			setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
			setenv pbx_slot B
			setenv pbx_rootpart 3
		fi
	fi
done

if test -z "${pbx_slot}"; then
	# Both slots used up their attempts: never leave the box dead, start over.
	echo "PBX: no slot has attempts left; resetting counters"
	setenv BOOT_A_LEFT 3
	setenv BOOT_B_LEFT 3
	saveenv
	reset
fi

# Persist the spent attempt before booting, so a hang counts as a failure.
saveenv

test -n "${devtype}" || setenv devtype mmc
test -n "${devnum}" || setenv devnum 0
part uuid ${devtype} ${devnum}:${pbx_rootpart} pbx_rootuuid

setenv bootargs "console=ttyAMA0,115200 root=PARTUUID=${pbx_rootuuid} rootfstype=squashfs ro rootwait panic=5 loglevel=4 pbx.slot=${pbx_slot}"

echo "PBX: booting slot ${pbx_slot} (partition ${pbx_rootpart}, ${BOOT_A_LEFT}/${BOOT_B_LEFT} attempts left for A/B)"
if load ${devtype} ${devnum}:${pbx_rootpart} ${kernel_addr_r} /boot/Image; then
	booti ${kernel_addr_r} - ${fdt_addr}
fi

# The kernel could not be loaded or started: try again (one attempt is spent).
echo "PBX: slot ${pbx_slot} failed to boot; resetting"
reset
