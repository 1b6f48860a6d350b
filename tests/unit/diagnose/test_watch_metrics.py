"""`vipkeeper watch --metrics`: the watch's families, written by our exposition writer, read as
prometheus_client wrote them (the same families through its generate_latest), and with the counts
of a split brain in them."""

from __future__ import annotations

import ipaddress
import time

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from vipkeeper.control.exposition import Registry, generate_text
from vipkeeper.diagnose.lan_watch import LanWatch
from vipkeeper.diagnose.watch_cli import WatchCollector
from vipkeeper.vrrp import packet

A, B = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
VIP = ipaddress.ip_address("192.0.2.50")


def advert(src, prio):
    return packet.Received(src, ipaddress.ip_address("224.0.0.18"), 255,
                           packet.Advertisement(3, 51, prio, (VIP,), 100))


class AsPrometheusClient:
    """The same families as prometheus_client objects."""

    def __init__(self, collector: WatchCollector) -> None:
        self.collector = collector

    def collect(self):
        for f in self.collector.collect():
            out = GaugeMetricFamily(f.name, f.documentation, labels=list(f.labelnames))
            for s in f.samples:
                out.add_metric([s.labels[k] for k in f.labelnames], s.value)
            yield out


def test_watch_metrics_page_is_prometheus_clients_and_counts_two_masters(monkeypatch) -> None:
    now = 1_700_000_000.0
    monkeypatch.setattr(time, "time", lambda: now)
    watch = LanWatch(overlap=1.0)
    for i in range(6):
        watch.advert(now - 5 + i, "02:00:00:00:00:0a", advert(A, 150))
        watch.advert(now - 5 + i, "02:00:00:00:00:0b", advert(B, 100))
    collector = WatchCollector(watch)
    ours = generate_text(Registry([collector]))
    assert ours == generate_latest(AsPrometheusClient(collector))
    samples = {(s.name, frozenset(s.labels.items())): s.value
               for f in text_string_to_metric_families(ours.decode()) for s in f.samples}
    assert samples[("vipkeeper_watch_masters", frozenset({("vrid", "51")}))] == 2
    assert samples[("vipkeeper_watch_priority", frozenset({("vrid", "51"), ("source", "192.0.2.1")}))] == 150
    assert samples[("vipkeeper_watch_findings", frozenset({("kind", "two_masters")}))] == 1
