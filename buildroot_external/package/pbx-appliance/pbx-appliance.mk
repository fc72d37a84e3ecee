################################################################################
#
# pbx-appliance
#
################################################################################

# The appliance is built from this very repository (the BR2_EXTERNAL tree
# lives in its buildroot_external/ folder), so the version follows
# pyproject.toml and the source is synced locally rather than downloaded.
PBX_APPLIANCE_VERSION = $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' $(BR2_EXTERNAL_PBX_APPLIANCE_PATH)/../pyproject.toml)
PBX_APPLIANCE_SITE = $(BR2_EXTERNAL_PBX_APPLIANCE_PATH)/..
PBX_APPLIANCE_SITE_METHOD = local
PBX_APPLIANCE_SETUP_TYPE = setuptools
PBX_APPLIANCE_LICENSE = Proprietary
PBX_APPLIANCE_REDISTRIBUTE = NO
# pyproject.toml's build-system requires "wheel" next to setuptools, and
# "python -m build -n" refuses to build while one is missing.
PBX_APPLIANCE_DEPENDENCIES = host-python-wheel
# Only pyproject.toml and the appliance package are needed to build the
# wheel: keep the developer's virtualenv, Buildroot's own output and the
# test suite out of the copy.
PBX_APPLIANCE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /.venv --exclude /output --exclude /var --exclude /.cache \
	--exclude /tests --exclude /bench --exclude /buildroot_external \
	--exclude /board --exclude /rootfs_overlay --exclude /test-artifacts \
	--exclude '*.egg-info' --exclude __pycache__ --exclude .pytest_cache

$(eval $(python-package))
