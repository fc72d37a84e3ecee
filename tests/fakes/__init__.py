"""Faithful fakes at the hardware and OS boundaries (I2C, serial, netlink) used by the tests."""
