"""Metrics: scraped over real HTTP from the asyncio server and read back with Prometheus' parser."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vipkeeper.control.metrics import ListenError, MetricsServer, parse_listen


def _scrape(snapshot_fn, path="/metrics", listen="127.0.0.1:0", method="GET"):
    async def main():
        server = MetricsServer(listen, snapshot_fn)
        await server.start()
        try:
            host, port = server.addresses[0]
            host = f"[{host}]" if ":" in host else host
            request = urllib.request.Request(f"http://{host}:{port}{path}", method=method)

            def fetch():
                try:
                    with urllib.request.urlopen(request, timeout=5) as resp:
                        return resp.status, dict(resp.headers), resp.read().decode()
                except urllib.error.HTTPError as exc:
                    return exc.code, dict(exc.headers), exc.read().decode()

            return await asyncio.get_running_loop().run_in_executor(None, fetch)
        finally:
            await server.close()

    return asyncio.run(main())


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(samples, metric, **labels):
    return samples[(metric, frozenset(labels.items()))]


VI1 = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}
VI6 = {"iname": "VI_6", "intf": "eth1", "vrid": "52"}


def test_scrape_and_parse(snapshot):
    code, headers, text = _scrape(lambda: snapshot)
    assert code == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    m = _samples(text)
    assert _value(m, "vipkeeper_up") == 1
    assert _value(m, "vipkeeper_vrrp_state", **VI1) == 2  # MASTER, keepalived numbering
    assert _value(m, "vipkeeper_vrrp_state", **VI6) == 1  # BACKUP
    assert _value(m, "vipkeeper_vrrp_effective_priority", **VI1) == 150
    assert _value(m, "vipkeeper_vrrp_base_priority", **VI1) == 100
    assert _value(m, "vipkeeper_vrrp_master_priority", **VI6) == 200
    assert _value(m, "vipkeeper_vrrp_transitions_total", **VI1) == 3
    assert _value(m, "vipkeeper_become_master_total", **VI1) == 2
    assert _value(m, "vipkeeper_advertisements_sent_total", **VI1) == 1234
    assert _value(m, "vipkeeper_advertisements_received_total", **VI6) == 99
    assert _value(m, "vipkeeper_priority_zero_received_total", **VI1) == 1
    assert _value(m, "vipkeeper_packets_dropped_total", **VI1, reason="ttl") == 3
    assert _value(m, "vipkeeper_packets_dropped_total", **VI1, reason="vrid") == 5
    assert _value(m, "vipkeeper_packets_dropped_total",
                  iname="", intf="", vrid="", reason="no_instance") == 9  # Prometheus: empty = absent
    assert _value(m, "vipkeeper_vip_present", **VI1, ip_address="192.0.2.25/24", dev="eth0") == 1
    assert _value(m, "vipkeeper_vip_present", **VI1, ip_address="192.0.2.26/24", dev="eth0") == 0
    assert _value(m, "vipkeeper_tracker_status", iname="VI_1", kind="process", name="haproxy") == 1
    assert _value(m, "vipkeeper_tracker_status", iname="VI_1", kind="script", name="chk_dns") == 0
    assert _value(m, "vipkeeper_tracker_priority_contribution",
                  iname="VI_1", kind="process", name="haproxy") == 50
    assert _value(m, "vipkeeper_script_status", name="chk_dns") == 0
    assert _value(m, "vipkeeper_script_runs_total", name="chk_dns") == 10
    assert _value(m, "vipkeeper_script_timeouts_total", name="chk_dns") == 1
    assert _value(m, "vipkeeper_script_last_duration_seconds", name="chk_dns") == 0.25
    assert _value(m, "vipkeeper_process_events_total") == 5000
    assert _value(m, "vipkeeper_process_rescans_total") == 2
    assert _value(m, "vipkeeper_process_enobufs_total") == 1
    assert _value(m, "vipkeeper_process_read_shortages_total") == 3
    assert _value(m, "vipkeeper_track_process_count", name="haproxy") == 4
    assert _value(m, "vipkeeper_track_process_quorum", name="haproxy") == 1
    assert _value(m, "vipkeeper_config_reloads_total") == 2
    assert _value(m, "vipkeeper_config_reload_failures_total") == 1
    assert _value(m, "vipkeeper_build_info", version="0.1.0", process_tracking="connector") == 1
    assert any(name == "process_resident_memory_bytes" for name, _ in m)


def test_values_are_read_at_scrape_time(snapshot):
    calls = []

    def snap():
        calls.append(1)
        snapshot["instances"][0]["counters"]["adverts_sent"] = 1000 + len(calls)
        return snapshot

    _, _, text = _scrape(snap)
    assert _value(_samples(text), "vipkeeper_advertisements_sent_total", **VI1) == 1001
    assert len(calls) == 1


def test_a_failing_snapshot_serves_up_zero():
    def broken():
        raise RuntimeError("boom")

    code, _, text = _scrape(broken)
    assert code == 200
    assert _value(_samples(text), "vipkeeper_up") == 0


def test_sparse_snapshot_does_not_break_the_scrape():
    code, _, text = _scrape(lambda: {"instances": [{"name": "VI_X", "state": "FAULT"}]})
    assert code == 200
    assert _value(_samples(text), "vipkeeper_vrrp_state", iname="VI_X", intf="", vrid="") == 3


def test_other_paths_and_methods(snapshot):
    assert _scrape(lambda: snapshot, path="/nope")[0] == 404
    assert _scrape(lambda: snapshot, method="POST")[0] == 405
    code, headers, body = _scrape(lambda: snapshot, method="HEAD")
    assert code == 200 and body == "" and int(headers["Content-Length"]) > 1000


def test_ipv6_loopback_listener(snapshot):
    code, _, text = _scrape(lambda: snapshot, listen="[::1]:0")
    assert code == 200 and "vipkeeper_vrrp_state" in text


def test_parse_listen():
    assert parse_listen("127.0.0.1:9650") == ("127.0.0.1", 9650)
    assert parse_listen("[::1]:9650") == ("::1", 9650)
    assert parse_listen("localhost:9650") == ("localhost", 9650)
    for bad in ("9650", "::1:9650", "[::1]9650", "host.example:80", "127.0.0.1:99999", "127.0.0.1:x"):
        with pytest.raises(ListenError):
            parse_listen(bad)


def test_slow_client_does_not_block_other_scrapes(snapshot):
    async def main():
        server = MetricsServer("127.0.0.1:0", lambda: snapshot)
        await server.start()
        try:
            host, port = server.addresses[0]
            # a client that connects and says nothing
            _idle_reader, idle_writer = await asyncio.open_connection(host, port)
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            idle_writer.close()
            return data
        finally:
            await server.close()

    data = asyncio.run(main())
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"vipkeeper_up 1.0" in data
