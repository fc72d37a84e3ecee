################################################################################
#
# python-aioice
#
################################################################################

PYTHON_AIOICE_VERSION = 0.9.0
PYTHON_AIOICE_SOURCE = aioice-$(PYTHON_AIOICE_VERSION).tar.gz
PYTHON_AIOICE_SITE = https://files.pythonhosted.org/packages/33/b6/e2b0e48ccb5b04fe29265e93f14a0915f416e359c897ae87d570566c430b
PYTHON_AIOICE_SETUP_TYPE = setuptools
PYTHON_AIOICE_LICENSE = BSD-3-Clause
PYTHON_AIOICE_LICENSE_FILES = LICENSE

$(eval $(python-package))
