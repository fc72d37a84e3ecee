################################################################################
#
# python-sqlite-fts4
#
################################################################################

PYTHON_SQLITE_FTS4_VERSION = 1.0.3
PYTHON_SQLITE_FTS4_SOURCE = sqlite-fts4-$(PYTHON_SQLITE_FTS4_VERSION).tar.gz
PYTHON_SQLITE_FTS4_SITE = https://files.pythonhosted.org/packages/c2/6d/9dad6c3b433ab8912ace969c66abd595f8e0a2ccccdb73602b1291dbda29
PYTHON_SQLITE_FTS4_SETUP_TYPE = setuptools
PYTHON_SQLITE_FTS4_LICENSE = Apache-2.0
PYTHON_SQLITE_FTS4_LICENSE_FILES = LICENSE

$(eval $(python-package))
