################################################################################
#
# python-pylibsrtp
#
################################################################################

PYTHON_PYLIBSRTP_VERSION = 0.12.0
PYTHON_PYLIBSRTP_SOURCE = pylibsrtp-$(PYTHON_PYLIBSRTP_VERSION).tar.gz
PYTHON_PYLIBSRTP_SITE = https://files.pythonhosted.org/packages/54/c8/a59e61f5dd655f5f21033bd643dd31fe980a537ed6f373cdfb49d3a3bd32
PYTHON_PYLIBSRTP_SETUP_TYPE = setuptools
PYTHON_PYLIBSRTP_LICENSE = BSD-3-Clause
PYTHON_PYLIBSRTP_LICENSE_FILES = LICENSE
PYTHON_PYLIBSRTP_DEPENDENCIES = host-python-cffi libsrtp

$(eval $(python-package))
