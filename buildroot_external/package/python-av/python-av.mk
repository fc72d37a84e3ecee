################################################################################
#
# python-av
#
################################################################################

PYTHON_AV_VERSION = 13.1.0
PYTHON_AV_SOURCE = av-$(PYTHON_AV_VERSION).tar.gz
PYTHON_AV_SITE = https://files.pythonhosted.org/packages/0c/9d/486d31e76784cc0ad943f420c5e05867263b32b37e2f4b0f7f22fdc1ca3a
PYTHON_AV_SETUP_TYPE = setuptools
PYTHON_AV_LICENSE = BSD-3-Clause
PYTHON_AV_LICENSE_FILES = LICENSE.txt
PYTHON_AV_DEPENDENCIES = host-pkgconf host-python-cython ffmpeg
# PyAV 13 is the last release that builds against FFmpeg 6 (Buildroot's); the appliance uses
# its audio frames and libswresample.

$(eval $(python-package))
