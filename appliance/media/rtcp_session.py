"""RTCP for one endpoint (RFC 3550 §6): a report every ~5 s and the figures read from the phone's reports.

The engine terminates RTCP on each leg rather than forwarding it: each phone gets reports about the stream it
exchanges with the PBX, and the PBX learns each leg's loss, jitter and round-trip time for monitoring and CDRs.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from appliance.media.rtp import (
    SDES_CNAME, Bye, ReceiverReport, ReportBlock, SdesChunk, SenderReport, SourceDescription, build_compound,
    ntp_middle32, parse_rtcp,
)

if TYPE_CHECKING:
    from appliance.media.endpoint import Endpoint

log = logging.getLogger(__name__)

__all__ = ["REPORT_INTERVAL", "RtcpState"]

REPORT_INTERVAL = 5.0  # RFC 3550 §6.2 minimum; randomised ×[0.5, 1.5] per §6.3.5 so legs do not synchronise


class RtcpState:
    """Report scheduling, report building and parsing of received reports for one endpoint."""

    def __init__(self, endpoint: Endpoint, interval: float = REPORT_INTERVAL) -> None:
        self.endpoint = endpoint
        self.interval = interval
        self.next_report: float | None = None
        self.packets_in = 0
        self.packets_out = 0
        self.remote_fraction_lost = 0.0
        self.remote_cumulative_lost = 0
        self.remote_jitter_ms: float | None = None
        self.rtt_ms: float | None = None
        self.bye = False
        self._expected_prior = 0
        self._received_prior = 0
        self._last_sr_middle = 0
        self._last_sr_arrival: float | None = None

    def receive(self, data: bytes, now: float) -> None:
        """Parse one received compound RTCP packet; malformed ones are logged and ignored."""
        try:
            packets = parse_rtcp(data)
        except ValueError as err:
            log.debug("endpoint %s: malformed RTCP: %s", self.endpoint.local_port, err)
            return
        self.packets_in += 1
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._last_sr_middle = ntp_middle32(packet.ntp_timestamp)
                self._last_sr_arrival = now
            if isinstance(packet, (SenderReport, ReceiverReport)) and packet.reports:
                self._read_block(self._pick_block(packet.reports), now)
            elif isinstance(packet, Bye):
                self.bye = True

    def _pick_block(self, blocks: list[ReportBlock]) -> ReportBlock:
        for block in blocks:
            if block.ssrc == self.endpoint.ssrc:
                return block
        return blocks[0]  # a relayed stream carries the other phone's SSRC: its block is still about this leg

    def _read_block(self, block: ReportBlock, now: float) -> None:
        rate = self.endpoint._rate
        self.remote_fraction_lost = block.fraction_lost / 256.0
        self.remote_cumulative_lost = block.cumulative_lost
        self.remote_jitter_ms = block.jitter * 1000.0 / rate
        if block.lsr:
            # RFC 3550 §6.4.1: RTT = A − LSR − DLSR, in 1/65536 s of the NTP timeline.
            arrival = ntp_middle32(self.endpoint._engine.ntp(now))
            rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
            if rtt < 0x80000000:
                self.rtt_ms = rtt * 1000.0 / 65536

    def maybe_send(self, now: float) -> None:
        """Send a report when one is due (the first one a random fraction of the interval after start)."""
        if self.next_report is None:
            self.next_report = now + self.interval * random.uniform(0.1, 1.0)
            return
        if now < self.next_report:
            return
        self.next_report = now + self.interval * random.uniform(0.5, 1.5)
        self.endpoint._send_rtcp(self.build_report(now))
        self.packets_out += 1

    def build_report(self, now: float) -> bytes:
        """SR when we have generated media since the start, else RR; with one block about the received source."""
        ep = self.endpoint
        blocks = []
        expected = ep._expected()
        if expected:
            received = ep.packets_in
            expected_interval = expected - self._expected_prior
            lost_interval = expected_interval - (received - self._received_prior)
            self._expected_prior, self._received_prior = expected, received
            fraction = 0
            if expected_interval > 0 and lost_interval > 0:
                fraction = min(255, lost_interval * 256 // expected_interval)
            dlsr = 0
            if self._last_sr_arrival is not None:
                dlsr = int((now - self._last_sr_arrival) * 65536) & 0xFFFFFFFF
            blocks.append(ReportBlock(ep._remote_ssrc, fraction, max(0, expected - received),
                                      (ep._cycles + ep._max_seq) & 0xFFFFFFFF, int(ep._jitter_ts),
                                      self._last_sr_middle, dlsr))
        report: SenderReport | ReceiverReport
        if ep.generated_packets:
            report = SenderReport(ep.ssrc, ep._engine.ntp(now), ep._ts, ep.generated_packets, ep.generated_bytes,
                                  blocks)
        else:
            report = ReceiverReport(ep.ssrc, blocks)
        sdes = SourceDescription([SdesChunk(ep.ssrc, [(SDES_CNAME, ep._engine.cname.encode())])])
        return build_compound([report, sdes])

    def stats(self) -> dict[str, Any]:
        return {
            "rtcp_in": self.packets_in, "rtcp_out": self.packets_out,
            "remote_fraction_lost": round(self.remote_fraction_lost, 4),
            "remote_lost": self.remote_cumulative_lost,
            "remote_jitter_ms": None if self.remote_jitter_ms is None else round(self.remote_jitter_ms, 3),
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 3),
        }
