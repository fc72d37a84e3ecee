################################################################################
#
# python-aiortc
#
################################################################################

PYTHON_AIORTC_VERSION = 1.10.1
PYTHON_AIORTC_SOURCE = aiortc-$(PYTHON_AIORTC_VERSION).tar.gz
PYTHON_AIORTC_SITE = https://files.pythonhosted.org/packages/8a/f8/408e092748521889c9d33dddcef920afd9891cf6db4615ba6b6bfe114ff8
PYTHON_AIORTC_SETUP_TYPE = setuptools
PYTHON_AIORTC_LICENSE = BSD-3-Clause
PYTHON_AIORTC_LICENSE_FILES = LICENSE
PYTHON_AIORTC_DEPENDENCIES = host-python-cffi libvpx opus
# 1.10.x is the last aiortc on PyAV < 14, and PyAV 14 dropped the FFmpeg 6 that Buildroot
# ships; it also builds its own Opus and VPX bindings with cffi (later versions moved them into PyAV).

$(eval $(python-package))
