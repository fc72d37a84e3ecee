################################################################################
#
# python-pyee
#
################################################################################

PYTHON_PYEE_VERSION = 13.0.1
PYTHON_PYEE_SOURCE = pyee-$(PYTHON_PYEE_VERSION).tar.gz
PYTHON_PYEE_SITE = https://files.pythonhosted.org/packages/8b/04/e7c1fe4dc78a6fdbfd6c337b1c3732ff543b8a397683ab38378447baa331
PYTHON_PYEE_SETUP_TYPE = setuptools
PYTHON_PYEE_LICENSE = MIT
PYTHON_PYEE_LICENSE_FILES = LICENSE
PYTHON_PYEE_DEPENDENCIES = host-python-setuptools-scm

$(eval $(python-package))
