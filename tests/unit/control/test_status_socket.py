"""`vipkeeper status` names a socket fault and counts socket errors and reopens; a healthy
socket adds no line."""

from __future__ import annotations

from vipkeeper.control.cli import render


def page(socket_: dict | None) -> str:
    return render({"daemon": {"now": 10.0}, "instances": [{"name": "VI_1", "state": "FAULT", "interface": "eth0",
                                                          "socket": socket_}]})


def test_fault_errors_and_reopens_are_shown() -> None:
    text = page({"open": False, "fault": "interface eth0 down", "reopens": 2, "errors": {"send_enodev": 3}})
    assert "socket     FAULT: interface eth0 down" in text
    assert "send_enodev 3, reopened 2" in text


def test_a_healthy_socket_adds_nothing() -> None:
    assert "socket" not in page({"open": True, "fault": None, "reopens": 0, "errors": {}})
    assert "socket" not in page(None)
