"""Userland of an office IP-PBX appliance."""

__version__ = "0.1.0"
