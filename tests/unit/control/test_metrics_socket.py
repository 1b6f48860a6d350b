"""Socket errors and reopens of an instance's VRRP socket, from the snapshot to Prometheus text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from vipkeeper.control.exposition import generate_text
from vipkeeper.control.metrics import make_registry

LABELS = {"iname": "VI_1", "intf": "eth0", "vrid": "51"}


def samples(snapshot: dict) -> dict:
    text = generate_text(make_registry(lambda: snapshot, process_metrics=False)).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def instance(socket_: dict | None) -> dict:
    return {"daemon": {}, "instances": [{"name": "VI_1", "interface": "eth0", "vrid": 51, "state": "FAULT",
                                          "socket": socket_}]}


def test_socket_errors_reopens_and_open_are_exported() -> None:
    m = samples(instance({"open": True, "ifindex": 7, "fault": None, "reopens": 2, "send_errors": 5,
                          "receive_errors": 1, "announce_errors": 3,
                          "errors": {"send_enodev": 4, "send_eperm": 1, "recv_enobufs": 1, "announce_enxio": 3}}))
    assert m[("vipkeeper_socket_errors_total", frozenset({**LABELS, "reason": "send_enodev"}.items()))] == 4
    assert m[("vipkeeper_socket_errors_total", frozenset({**LABELS, "reason": "announce_enxio"}.items()))] == 3
    assert m[("vipkeeper_socket_reopens_total", frozenset(LABELS.items()))] == 2
    assert m[("vipkeeper_socket_open", frozenset(LABELS.items()))] == 1


def test_a_faulted_or_missing_socket_reads_as_not_open() -> None:
    faulted = samples(instance({"open": True, "fault": "send advert error 1 (Operation not permitted)",
                                "reopens": 0, "errors": {}}))
    assert faulted[("vipkeeper_socket_open", frozenset(LABELS.items()))] == 0
    missing = samples(instance({"open": False, "fault": "interface eth0 down", "reopens": 0, "errors": {}}))
    assert missing[("vipkeeper_socket_open", frozenset(LABELS.items()))] == 0
    # an older snapshot without the section still scrapes
    assert ("vipkeeper_socket_open", frozenset(LABELS.items())) not in samples(instance(None))
