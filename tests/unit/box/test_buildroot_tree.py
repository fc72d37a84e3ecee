"""The firmware definition follows Buildroot's conventions, checked without building it.

What Buildroot itself would reject late (or silently mis-build) is caught here: the BR2_EXTERNAL tree's
files and variable prefixes, every package sourced and hashed, selects that name real packages, the
defconfigs' file references, the A/B disk layout, shell syntax, and — the one that bites most — a Python
dependency added to pyproject.toml without a Buildroot package behind it.

Upstream facts come from Buildroot 2026.05.1 (the release the defconfigs target), read from its
repository: the package names and versions below, and the files the defconfigs take from its tree.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
import zlib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[3]
EXTERNAL = REPO / "buildroot_external"
BOARD = REPO / "board"
OVERLAY = REPO / "rootfs_overlay"
EXTERNAL_NAME = "PBX_APPLIANCE"
EXTERNAL_VAR = f"$(BR2_EXTERNAL_{EXTERNAL_NAME}_PATH)"

#: Python packages of Buildroot 2026.05.1 that the appliance uses, with their versions there
#: (package/<name>/<name>.mk), so that pyproject.toml's minimum versions can be checked against them.
UPSTREAM_PYTHON_PACKAGES = {
    "python-blinker": "1.9.0",
    "python-cffi": "2.0.0",
    "python-click": "8.3.3",
    "python-cryptography": "47.0.0",
    "python-dateutil": "2.9.0",
    "python-dnspython": "2.8.0",
    "python-flask": "3.1.3",
    "python-gunicorn": "23.0.0",
    "python-ifaddr": "0.2.0",
    "python-itsdangerous": "2.2.0",
    "python-jinja2": "3.1.6",
    "python-markupsafe": "3.0.3",
    "python-numpy": "2.4.0",
    "python-packaging": "26.2",
    "python-pip": "26.1",
    "python-pluggy": "1.6.0",
    "python-pycparser": "3.0",
    "python-pyopenssl": "26.1.0",
    "python-pyroute2": "0.9.6",
    "python-serial": "3.5",
    "python-setuptools": "80.9.0",
    "python-setuptools-scm": "9.2.2",
    "python-six": "1.17.0",
    "python-smbus2": "0.6.1",
    "python-typing-extensions": "4.15.0",
    "python-uvloop": "0.22.1",
    "python-websockets": "16.0",
    "python-werkzeug": "3.1.8",
    "python-wheel": "0.47.0",
}

#: Other Buildroot 2026.05.1 packages the tree selects or depends on.
UPSTREAM_OTHER_PACKAGES = {
    "e2fsprogs", "genimage", "libubootenv", "python3", "rpi-firmware", "spandsp", "squashfs",
    "uboot-tools", "util-linux", "dosfstools", "mtools", "qemu",
    "ffmpeg", "libsrtp", "libvpx", "opus",  # the browser phone's media (python-av, -pylibsrtp, -aiortc)
}

#: Kconfig symbols of Buildroot 2026.05.1 that are not "BR2_PACKAGE_<package>" itself.
UPSTREAM_SYMBOLS = {
    "BR2_PACKAGE_PYTHON3_SQLITE", "BR2_PACKAGE_PYTHON3_SSL", "BR2_PACKAGE_PYTHON3_ZLIB",
    "BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS", "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS",
    "BR2_INSTALL_LIBSTDCPP", "BR2_TOOLCHAIN_USES_GLIBC", "BR2_TOOLCHAIN_USES_MUSL",
    "BR2_TOOLCHAIN_GCC_AT_LEAST_9", "BR2_TOOLCHAIN_HAS_SYNC_4", "BR2_TOOLCHAIN_HAS_THREADS_NPTL",
    "BR2_USE_MMU", "BR2_STATIC_LIBS",
    "BR2_PACKAGE_FFMPEG_ARCH_SUPPORTS", "BR2_PACKAGE_FFMPEG_SWSCALE", "BR2_TOOLCHAIN_HAS_THREADS",
}

#: Files of the Buildroot 2026.05.1 tree that the defconfigs name by relative path.
UPSTREAM_FILES = {
    "board/raspberrypi/patches",
    "board/qemu/patches",
    "board/qemu/aarch64-virt/linux.config",
}

#: How a PyPI distribution is called in Buildroot when it is not simply "python-<name>".
PYPI_TO_BUILDROOT = {"pyserial": "python-serial", "python-dateutil": "python-dateutil"}

#: Setup types pkg-python.mk accepts for target packages (docs/manual/adding-packages-python.adoc).
SETUP_TYPES = {"flit", "hatch", "pep517", "poetry", "setuptools", "setuptools-rust", "maturin"}

#: Genimage partitions in the order boot.cmd (slots = partitions 2 and 3) and board.env (data = 4) rely on.
PARTITIONS = ["boot", "rootfs-a", "rootfs-b", "data"]

BOARDS = {
    "raspberrypi4_64": BOARD / "raspberrypi" / "rpi4-64",
    "qemu_aarch64_virt": BOARD / "qemu" / "aarch64-virt",
}


def packages() -> list[Path]:
    return sorted(p for p in (EXTERNAL / "package").iterdir() if p.is_dir())


def prefix(package: str) -> str:
    return package.upper().replace("-", "_")


def mk_variables(package: Path) -> dict[str, str]:
    """The NAME = value assignments of a package's .mk file (continuation lines joined)."""
    text = (package / f"{package.name}.mk").read_text().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z0-9_]+)\s*[+:?]?=\s*(.*)$", line)
        if match:
            out[match.group(1)] = match.group(2).strip()
    return out


def expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: variables.get(m.group(1), m.group(0)), value)


def defconfig(board: str) -> dict[str, str]:
    out = {}
    for line in (EXTERNAL / "configs" / f"pbx_{board}_defconfig").read_text().splitlines():
        if line.startswith("BR2_"):
            key, _, value = line.partition("=")
            out[key] = value.strip('"')
        elif match := re.match(r"^# (BR2_\w+) is not set$", line):
            out[match.group(1)] = "n"
    return out


def symbol_package(symbol: str) -> str:
    """BR2_PACKAGE_PYTHON_SQLITE_UTILS -> python-sqlite-utils (how Buildroot names both)."""
    return symbol.removeprefix("BR2_PACKAGE_").lower().replace("_", "-")


def known_symbols() -> set[str]:
    ours = {f"BR2_PACKAGE_{prefix(p.name)}" for p in packages()}
    upstream = {f"BR2_PACKAGE_{prefix(name)}" for name in UPSTREAM_PYTHON_PACKAGES | dict.fromkeys(UPSTREAM_OTHER_PACKAGES)}
    return ours | upstream | UPSTREAM_SYMBOLS


def buildroot_name(requirement: Requirement) -> str:
    name = canonicalize_name(requirement.name)
    return PYPI_TO_BUILDROOT.get(name, f"python-{name}")


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


# --- the BR2_EXTERNAL tree ---------------------------------------------------------------------------


def test_external_desc_names_the_tree_and_describes_it() -> None:
    fields = dict(
        line.split(":", 1) for line in (EXTERNAL / "external.desc").read_text().splitlines() if ":" in line
    )
    assert fields["name"].strip() == EXTERNAL_NAME
    assert re.fullmatch(r"[A-Za-z0-9_]+", fields["name"].strip())
    assert 0 < len(fields["desc"].strip()) <= 60


def test_external_mk_includes_every_package_makefile() -> None:
    text = (EXTERNAL / "external.mk").read_text()
    assert f"include $(sort $(wildcard {EXTERNAL_VAR}/package/*/*.mk))" in text


def test_every_package_has_config_in_makefile_and_hash() -> None:
    assert packages(), "no package in buildroot_external/package"
    for package in packages():
        for name in ("Config.in", f"{package.name}.mk", f"{package.name}.hash"):
            assert (package / name).is_file(), f"{package.name}: {name} missing"


def test_every_package_config_in_is_sourced_from_the_top_config_in() -> None:
    top = (EXTERNAL / "Config.in").read_text()
    sourced = re.findall(r'^\s*source\s+"([^"]+)"', top, re.MULTILINE)
    expected = {f"$BR2_EXTERNAL_{EXTERNAL_NAME}_PATH/package/{p.name}/Config.in" for p in packages()}
    assert set(sourced) == expected


def test_config_in_defines_the_package_symbol_first() -> None:
    for package in packages():
        text = (package / "Config.in").read_text()
        first = re.search(r"^config\s+(\S+)", text, re.MULTILINE)
        assert first and first.group(1) == f"BR2_PACKAGE_{prefix(package.name)}", package.name
        assert re.search(rf'^\s+bool\s+"{re.escape(package.name)}"', text, re.MULTILINE), package.name


def test_selects_and_dependencies_name_packages_that_exist() -> None:
    known = known_symbols()
    for package in packages():
        text = (package / "Config.in").read_text()
        for symbol in re.findall(r"^\s*select\s+(BR2_\w+)", text, re.MULTILINE):
            assert symbol in known, f"{package.name} selects unknown {symbol}"
        for line in re.findall(r"^\s*depends on\s+(.+)$", text, re.MULTILINE):
            for symbol in re.findall(r"BR2_\w+", line):
                assert symbol in known, f"{package.name} depends on unknown {symbol}"


def test_makefile_variables_use_the_package_prefix() -> None:
    for package in packages():
        pfx = prefix(package.name)
        for name in mk_variables(package):
            assert name.startswith((f"{pfx}_", f"HOST_{pfx}_")), f"{package.name}: {name} lacks prefix {pfx}_"


def test_python_packages_declare_what_the_python_infrastructure_needs() -> None:
    for package in packages():
        pfx = prefix(package.name)
        variables = mk_variables(package)
        text = (package / f"{package.name}.mk").read_text()
        assert "$(eval $(python-package))" in text, package.name
        for suffix in ("VERSION", "SITE", "SETUP_TYPE", "LICENSE"):
            assert variables.get(f"{pfx}_{suffix}"), f"{package.name}: {pfx}_{suffix} missing"
        assert variables[f"{pfx}_SETUP_TYPE"] in SETUP_TYPES, package.name
        if variables.get(f"{pfx}_SITE_METHOD") != "local":
            assert variables.get(f"{pfx}_SOURCE"), f"{package.name}: {pfx}_SOURCE missing"
            assert variables.get(f"{pfx}_LICENSE_FILES"), f"{package.name}: {pfx}_LICENSE_FILES missing"
        assert package.name.startswith("python-") or package.name == "pbx-appliance", package.name


def test_downloaded_packages_hash_their_archive_and_license_files() -> None:
    for package in packages():
        pfx = prefix(package.name)
        variables = mk_variables(package)
        hashes = {}
        for line in (package / f"{package.name}.hash").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                algo, digest, filename = line.split()
                assert algo == "sha256" and re.fullmatch(r"[0-9a-f]{64}", digest), line
                hashes[filename] = digest
        if variables.get(f"{pfx}_SITE_METHOD") == "local":
            continue
        source = expand(variables[f"{pfx}_SOURCE"], variables)
        assert source in hashes, f"{package.name}: no hash for {source}"
        for license_file in variables[f"{pfx}_LICENSE_FILES"].split():
            assert license_file in hashes, f"{package.name}: no hash for {license_file}"
        assert variables[f"{pfx}_SITE"].startswith("https://files.pythonhosted.org/packages/"), package.name


def test_appliance_package_builds_this_repository_with_its_build_backend() -> None:
    variables = mk_variables(EXTERNAL / "package" / "pbx-appliance")
    assert variables["PBX_APPLIANCE_SITE_METHOD"] == "local"
    assert variables["PBX_APPLIANCE_SITE"] == f"{EXTERNAL_VAR}/.."
    build_system = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    assert build_system["build-backend"] == "setuptools.build_meta"
    assert variables["PBX_APPLIANCE_SETUP_TYPE"] == "setuptools"
    # "python -m build -n" checks the build requirements: each must be a host package.
    for requirement in build_system["requires"]:
        name = canonicalize_name(Requirement(requirement).name)
        assert name == "setuptools" or f"host-python-{name}" in variables["PBX_APPLIANCE_DEPENDENCIES"]


def test_every_runtime_dependency_of_pyproject_is_packaged_and_selected() -> None:
    """Adding a dependency to pyproject.toml without a Buildroot package for it fails here."""
    ours = {p.name: mk_variables(p) for p in packages()}
    selects = set(
        re.findall(
            r"^\s*select\s+(BR2_\w+)",
            (EXTERNAL / "package" / "pbx-appliance" / "Config.in").read_text(),
            re.MULTILINE,
        )
    )
    for requirement in project_requirements():
        name = buildroot_name(requirement)
        if name in ours:
            version = ours[name][f"{prefix(name)}_VERSION"]
        else:
            assert name in UPSTREAM_PYTHON_PACKAGES, (
                f"{requirement.name} has no Buildroot package: add buildroot_external/package/{name}/ "
                "(or, if Buildroot ships it, its name and version to UPSTREAM_PYTHON_PACKAGES)"
            )
            version = UPSTREAM_PYTHON_PACKAGES[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name} {version} does not satisfy {requirement}"
        )
        assert f"BR2_PACKAGE_{prefix(name)}" in selects, f"pbx-appliance does not select {name}"


def test_our_python_packages_select_their_runtime_dependencies() -> None:
    sqlite_utils = (EXTERNAL / "package" / "python-sqlite-utils" / "Config.in").read_text()
    for needed in ("CLICK", "CLICK_DEFAULT_GROUP", "DATEUTIL", "PLUGGY", "SQLITE_FTS4", "TABULATE"):
        assert f"select BR2_PACKAGE_PYTHON_{needed} " in sqlite_utils
    assert "select BR2_PACKAGE_PYTHON_CLICK " in (
        EXTERNAL / "package" / "python-click-default-group" / "Config.in"
    ).read_text()


# --- defconfigs and board files ----------------------------------------------------------------------


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_defconfig_refers_only_to_files_that_exist(board: str) -> None:
    for key, value in defconfig(board).items():
        for word in value.split():
            if word.startswith(EXTERNAL_VAR):
                path = Path(word.replace(EXTERNAL_VAR, str(EXTERNAL)))
                assert path.exists(), f"{key}: {word} does not exist"
                assert path.resolve().is_relative_to(REPO), word
            elif re.match(r"^(board|package|support)/", word):
                assert word in UPSTREAM_FILES, f"{key}: {word} is not a known Buildroot file"


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_defconfig_selects_python_the_appliance_and_a_read_only_root(board: str) -> None:
    config = defconfig(board)
    for key in (
        "BR2_PACKAGE_PYTHON3", "BR2_PACKAGE_PYTHON3_SQLITE", "BR2_PACKAGE_PYTHON3_SSL",
        "BR2_PACKAGE_PBX_APPLIANCE", "BR2_PACKAGE_SPANDSP", "BR2_PACKAGE_LIBUBOOTENV",
        "BR2_PACKAGE_E2FSPROGS", "BR2_TARGET_ROOTFS_SQUASHFS", "BR2_TARGET_UBOOT",
        "BR2_PACKAGE_HOST_GENIMAGE", "BR2_PACKAGE_HOST_UBOOT_TOOLS_BOOT_SCRIPT", "BR2_aarch64",
    ):
        assert config.get(key) == "y", f"{board}: {key} not set"
    assert config["BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW"] == "n"
    # The UART belongs to the installer console (inittab), not to a login getty.
    assert config["BR2_TARGET_GENERIC_GETTY"] == "n"
    assert config["BR2_ROOTFS_OVERLAY"] == f"{EXTERNAL_VAR}/../rootfs_overlay"
    assert config["BR2_PACKAGE_HOST_UBOOT_TOOLS_BOOT_SCRIPT_SOURCE"] == f"{EXTERNAL_VAR}/../board/common/boot.cmd"
    board_dir = f"{EXTERNAL_VAR}/../{BOARDS[board].relative_to(REPO)}"
    assert config["BR2_ROOTFS_POST_BUILD_SCRIPT"] == f"{board_dir}/post-build.sh"
    assert config["BR2_ROOTFS_POST_IMAGE_SCRIPT"] == f"{board_dir}/post-image.sh"
    assert config["BR2_TARGET_GENERIC_HOSTNAME"] == (OVERLAY / "etc" / "hostname").read_text().strip()


def genimage_partitions(path: Path) -> list[tuple[str, dict[str, str]]]:
    text = re.sub(r"#.*", "", path.read_text())
    return [
        (name, dict(re.findall(r'([\w-]+)\s*=\s*"?([^"\n]+?)"?\s*$', body, re.MULTILINE)))
        for name, body in re.findall(r"partition\s+([\w-]+)\s*\{([^}]*)\}", text)
    ]


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_disk_layout_has_boot_two_root_slots_and_data(board: str) -> None:
    cfg = BOARDS[board] / "genimage.cfg"
    partitions = genimage_partitions(cfg)
    assert [name for name, _ in partitions] == PARTITIONS
    options = dict(partitions)
    assert options["rootfs-a"]["image"] == options["rootfs-b"]["image"] == "rootfs.squashfs"
    assert options["rootfs-a"]["size"] == options["rootfs-b"]["size"]
    assert "image" not in options["data"], "the data partition is formatted on first boot"
    assert '"boot.scr"' in cfg.read_text()


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_board_directory_has_its_scripts_and_fragments(board: str) -> None:
    for name in ("genimage.cfg", "post-build.sh", "post-image.sh", "linux.fragment", "uboot.fragment", "uboot-env.txt"):
        path = BOARDS[board] / name
        assert path.is_file(), path
        if name.endswith(".sh"):
            assert os.access(path, os.X_OK), f"{path} is not executable"


def test_boot_script_and_pbx_slot_share_the_environment_variables() -> None:
    boot = (BOARD / "common" / "boot.cmd").read_text()
    slot = (OVERLAY / "usr" / "sbin" / "pbx-slot").read_text()
    for variable in ("BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT"):
        assert variable in boot
    assert "BOOT_ORDER" in slot and "BOOT_${cur}_LEFT" in slot
    assert "pbx.slot=${pbx_slot}" in boot and "pbx\\.slot=" in slot
    assert "setenv pbx_rootpart 2" in boot and "setenv pbx_rootpart 3" in boot
    assert "saveenv" in boot and "panic=" in boot


def test_linux_and_u_boot_agree_on_where_the_environment_is() -> None:
    fragment = (BOARD / "common" / "uboot.fragment").read_text()
    size = re.search(r"^CONFIG_ENV_SIZE=(0x[0-9a-fA-F]+)$", fragment, re.MULTILINE)
    env_file = re.search(r'^CONFIG_ENV_FAT_FILE="([^"]+)"$', fragment, re.MULTILINE)
    assert size and env_file
    lines = [
        line.split() for line in (OVERLAY / "etc" / "fw_env.config").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == [[f"/boot/{env_file.group(1)}", "0x0000", size.group(1)]]


#: Variables boot.cmd reads that U-Boot's board code sets at run time when the environment lacks them
#: (rpi.c: fdt_addr = the device tree the Pi firmware loaded, with its overlays applied).
SET_AT_RUN_TIME = {"raspberrypi4_64": {"fdt_addr"}, "qemu_aarch64_virt": set()}


def uboot_fragment(board: str) -> dict[str, str]:
    """CONFIG_* of the common and the board's U-Boot fragments (the board's win)."""
    values = {}
    for path in (BOARD / "common" / "uboot.fragment", BOARDS[board] / "uboot.fragment"):
        for name, value in re.findall(r"^(CONFIG_\w+)=(.*)$", path.read_text(), re.MULTILINE):
            values[name] = value.strip('"')
    return values


def uboot_env(board: str) -> dict[str, str]:
    """The board's default environment; mkenvimage's input is plain name=value lines."""
    lines = (BOARDS[board] / "uboot-env.txt").read_text().splitlines()
    # no comment or blank lines: mkenvimage keeps a '#' line at the very start of the file as a variable
    assert all(re.match(r"^[A-Za-z_][\w.]*=", line) for line in lines), lines
    return dict(line.split("=", 1) for line in lines)


def mkenvimage(env: dict[str, str], size: int) -> bytes:
    """What mkenvimage makes of it (non-redundant): CRC32, then name=value NUL-separated, NUL-padded."""
    data = b"".join(f"{name}={value}".encode() + b"\0" for name, value in env.items()) + b"\0"
    assert len(data) <= size - 4, f"the environment needs {len(data)} bytes, more than {size - 4}"
    data = data.ljust(size - 4, b"\0")
    return zlib.crc32(data).to_bytes(4, "little") + data


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_board_ships_a_default_u_boot_environment_built_by_buildroot(board: str) -> None:
    config = defconfig(board)
    fragment = uboot_fragment(board)
    board_dir = f"{EXTERNAL_VAR}/../{BOARDS[board].relative_to(REPO)}"
    assert config["BR2_PACKAGE_HOST_UBOOT_TOOLS"] == config["BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE"] == "y"
    assert config["BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE_SOURCE"] == f"{board_dir}/uboot-env.txt"
    # the same size for mkenvimage, U-Boot and fw_setenv, and one copy (fw_env.config names one)
    assert int(config["BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE_SIZE"], 16) == int(fragment["CONFIG_ENV_SIZE"], 16)
    assert config.get("BR2_PACKAGE_HOST_UBOOT_TOOLS_ENVIMAGE_REDUNDANT", "n") == "n"
    # Buildroot leaves it as uboot-env.bin; genimage puts it on the boot partition where U-Boot looks
    genimage = re.sub(r"#.*", "", (BOARDS[board] / "genimage.cfg").read_text())
    entry = re.search(r'file\s+(\S+)\s*\{\s*image\s*=\s*"uboot-env.bin"\s*\}', genimage)
    assert entry and entry.group(1) == fragment["CONFIG_ENV_FAT_FILE"]
    image = mkenvimage(uboot_env(board), int(fragment["CONFIG_ENV_SIZE"], 16))
    assert len(image) == int(fragment["CONFIG_ENV_SIZE"], 16)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_default_environment_boots_the_a_b_script_from_the_boot_partition(board: str) -> None:
    env = uboot_env(board)
    fragment = uboot_fragment(board)
    boot = (BOARD / "common" / "boot.cmd").read_text()
    slot_tool = (OVERLAY / "usr" / "sbin" / "pbx-slot").read_text()
    # the counters start where boot.cmd's and pbx-slot's defaults do
    assert env["BOOT_ORDER"] == "A B" and 'setenv BOOT_ORDER "A B"' in boot
    attempts = re.search(r'ATTEMPTS="\$\{PBX_SLOT_ATTEMPTS:-(\d+)\}"', slot_tool).group(1)  # type: ignore[union-attr]
    assert env["BOOT_A_LEFT"] == env["BOOT_B_LEFT"] == attempts
    assert f"setenv BOOT_A_LEFT {attempts}" in boot
    # bootcmd sources boot.scr from the disk and partition the environment itself lives on
    device, _, partition = fragment["CONFIG_ENV_FAT_DEVICE_AND_PART"].partition(":")
    assert (env["devtype"], env["devnum"]) == (fragment["CONFIG_ENV_FAT_INTERFACE"], device)
    assert f"load ${{devtype}} ${{devnum}}:{partition} ${{scriptaddr}} boot.scr" in env["bootcmd"]
    assert "source ${scriptaddr}" in env["bootcmd"] and env["scriptaddr"].startswith("0x")
    # a stored environment replaces the built-in one: all that boot.cmd reads must be here or set by U-Boot
    assigned = set(re.findall(r"(?:setenv|setexpr)\s+(\w+)", boot)) | set(re.findall(r"part uuid .* (\w+)$", boot, re.M))
    read = set(re.findall(r"\$\{(\w+)\}", boot)) - assigned - {"s"}
    missing = read - set(env) - SET_AT_RUN_TIME[board]
    assert not missing, f"boot.cmd reads {sorted(missing)}, which the default environment does not set"


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_post_build_puts_the_console_on_the_uart_and_names_the_partitions(board: str, tmp_path: Path) -> None:
    target = tmp_path / "target"
    shutil.copytree(OVERLAY, target, symlinks=True)
    result = subprocess.run(
        [str(BOARDS[board] / "post-build.sh"), str(target)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    inittab = (target / "etc" / "inittab").read_text()
    assert "@" not in re.sub(r"#.*", "", inittab)
    console = [line for line in inittab.splitlines() if "appliance console" in line and not line.startswith("#")]
    assert console == [
        "ttyAMA0::respawn:/usr/sbin/pbx-supervise -n console -l /run/pbx/console.log -- "
        "/usr/bin/appliance console --data /data --device /dev/ttyAMA0 --baud 115200"
    ]
    fstab = (target / "etc" / "fstab").read_text()
    board_env = (target / "etc" / "pbx" / "board.env").read_text()
    data_dev = re.search(r"PBX_DATA_DEV=\"\$\{PBX_DATA_DEV-(\S+)\}\"", board_env).group(1)
    assert re.search(rf"^{re.escape(data_dev)}\s+/data\s+ext4\s", fstab, re.MULTILINE)
    assert data_dev.endswith("4") and "@" not in fstab
    version = (target / "etc" / "pbx" / "version").read_text().split("+")[0]
    assert version == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_console_shows_the_firmware_release_post_build_records(board: str, tmp_path: Path) -> None:
    from appliance.console.services import BoxServices, ConsoleConfig
    from appliance.firmware import RELEASE_FILE

    target = tmp_path / "target"
    shutil.copytree(OVERLAY, target, symlinks=True)
    subprocess.run([str(BOARDS[board] / "post-build.sh"), str(target)], check=True, capture_output=True, timeout=60)
    # the console reads the file post-build writes, by default, through the one constant
    assert ConsoleConfig(data_dir=tmp_path).firmware_release_file == RELEASE_FILE
    written = target / RELEASE_FILE.relative_to("/")
    services = BoxServices(ConsoleConfig(data_dir=tmp_path, firmware_release_file=written), {}, None)  # type: ignore[arg-type]

    shown = services.version()

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert re.fullmatch(rf"appliance {re.escape(version)}, firmware {re.escape(version)}\+\S+ \({board}\)", shown), shown
    # and first boot re-runs `appliance init` when that same file changes
    assert f'VERSION_FILE="$PBX_ROOT{RELEASE_FILE}"' in (OVERLAY / "etc" / "init.d" / "S02firstboot").read_text()


# --- every `appliance` the box runs works on the data partition ---------------------------------------

#: `appliance` sub-commands that read or write no data directory (probes, help).
NO_DATA_NEEDED = ("--help", "-h", "--version")


def appliance_invocations() -> list[tuple[Path, list[str]]]:
    """(file, argv) of each `appliance` command in the overlay and the board files.

    Shell line continuations are joined, comment lines dropped and each line split as the shell would
    (quotes kept together, `;`, `|`, `&`, redirections apart); a command is the word `appliance` or
    `/usr/bin/appliance` with its words up to the end of the command. A message such as
    `log "appliance init failed"` is one quoted word, not a command.
    """
    found = []
    for root in (OVERLAY, BOARD):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            for line in text.replace("\\\n", " ").splitlines():
                if line.lstrip().startswith("#") or "appliance" not in line:
                    continue
                lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
                lexer.whitespace_split = True
                words = list(lexer)
                for index, word in enumerate(words):
                    if word in ("appliance", "/usr/bin/appliance"):
                        argv = ["appliance"]
                        for following in words[index + 1 :]:
                            if set(following) <= set(";|&<>()"):
                                break
                            argv.append(following)
                        found.append((path, argv))
    return found


def pbx_data_default() -> str:
    """PBX_DATA's default in /etc/default/pbx (the data partition's mount point)."""
    text = (OVERLAY / "etc" / "default" / "pbx").read_text()
    return re.search(r'^PBX_DATA="\$\{PBX_DATA:-([^}]+)\}"$', text, re.MULTILINE).group(1)  # type: ignore[union-attr]


def test_every_appliance_command_of_the_box_names_the_data_directory() -> None:
    """Without --data, `appliance` works on ./var: /var when init or a script starts it from /."""
    invocations = appliance_invocations()
    names = {path.name for path, _ in invocations}
    assert {"inittab", "S02firstboot", "S45network", "S50pbxd", "S55webui"} <= names, invocations
    for path, argv in invocations:
        if any(word in NO_DATA_NEEDED for word in argv):
            continue
        assert "--data" in argv, f"{path.relative_to(REPO)}: `{' '.join(argv)}` has no --data"
        value = argv[argv.index("--data") + 1]
        assert value in ("$PBX_DATA", pbx_data_default()), f"{path.name}: `{' '.join(argv)}`"


def test_the_console_line_of_inittab_works_on_the_data_partition() -> None:
    [argv] = [argv for path, argv in appliance_invocations() if path.name == "inittab"]
    assert argv[1] == "console" and argv[argv.index("--data") + 1] == pbx_data_default() == "/data"


# --- shell scripts -----------------------------------------------------------------------------------


def shell_scripts() -> list[Path]:
    scripts = [OVERLAY / "usr" / "lib" / "pbx" / "initlib.sh", OVERLAY / "etc" / "default" / "pbx"]
    for root in (OVERLAY, BOARD):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.read_bytes().startswith(b"#!/bin/sh"):
                scripts.append(path)
    return scripts


def test_shell_scripts_parse() -> None:
    scripts = shell_scripts()
    assert len(scripts) >= 12
    for script in scripts:
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_init_scripts_and_tools_are_executable() -> None:
    for path in [*(OVERLAY / "etc" / "init.d").iterdir(), *(OVERLAY / "usr" / "sbin").iterdir()]:
        assert os.access(path, os.X_OK), f"{path} is not executable"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shell_scripts_pass_shellcheck() -> None:
    # SC1091: sourced files are found through $PBX_ROOT at run time, not by path here.
    result = subprocess.run(
        ["shellcheck", "-S", "warning", "-s", "sh", "-e", "SC1091", *map(str, shell_scripts())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


# --- make image ----------------------------------------------------------------------------------------


def test_make_image_without_buildroot_says_how_to_call_it() -> None:
    result = subprocess.run(["make", "-s", "image"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "BUILDROOT is not set" in result.stderr
    assert "qemu_aarch64_virt" in result.stderr and "raspberrypi4_64" in result.stderr


def test_make_image_configures_then_builds_the_board_out_of_tree(tmp_path: Path) -> None:
    buildroot = tmp_path / "buildroot"
    (buildroot / "package").mkdir(parents=True)
    (buildroot / "Makefile").write_text("")
    result = subprocess.run(
        ["make", "-n", "image", f"BUILDROOT={buildroot}", "BOARD=qemu_aarch64_virt"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    common = f"-C {buildroot} BR2_EXTERNAL={REPO}/buildroot_external O={REPO}/output/qemu_aarch64_virt"
    lines = [line for line in result.stdout.splitlines() if common in line]
    assert len(lines) == 2 and lines[0].endswith("pbx_qemu_aarch64_virt_defconfig") and lines[1].endswith(common)
