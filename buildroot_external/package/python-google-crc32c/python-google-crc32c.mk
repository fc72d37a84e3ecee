################################################################################
#
# python-google-crc32c
#
################################################################################

PYTHON_GOOGLE_CRC32C_VERSION = 1.7.1
PYTHON_GOOGLE_CRC32C_SOURCE = google_crc32c-$(PYTHON_GOOGLE_CRC32C_VERSION).tar.gz
PYTHON_GOOGLE_CRC32C_SITE = https://files.pythonhosted.org/packages/19/ae/87802e6d9f9d69adfaedfcfd599266bf386a54d0be058b532d04c794f76d
PYTHON_GOOGLE_CRC32C_SETUP_TYPE = setuptools
PYTHON_GOOGLE_CRC32C_LICENSE = Apache-2.0
PYTHON_GOOGLE_CRC32C_LICENSE_FILES = LICENSE
# Buildroot has no package of Google's crc32c C library; the pure-Python implementation is
# enough for aiortc (it checksums SCTP data channels, which the browser phone does not open).
PYTHON_GOOGLE_CRC32C_ENV = CRC32C_PURE_PYTHON=1

$(eval $(python-package))
