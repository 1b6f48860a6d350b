"""daemon/early_listen.py's pure parts: when Startup is dated, and which socket an instance shares."""

from __future__ import annotations

import ipaddress
import socket

from vipkeeper.config import loads
from vipkeeper.daemon.early_listen import endpoint_key, startup_time

G4 = ipaddress.IPv4Address("224.0.0.18")
G6 = ipaddress.IPv6Address("ff02::12")


def test_startup_dated_from_listening_only_within_half_an_interval() -> None:
    assert startup_time(10.0, 10.04, 1.0) == 10.0  # 40 ms of start-up: dated
    assert startup_time(10.0, 10.49, 1.0) == 10.0
    assert startup_time(10.0, 10.5, 1.0) is None  # half an interval or more: Startup is now
    assert startup_time(10.0, 10.06, 0.1) is None  # fast adverts: the start took too long
    assert startup_time(None, 10.0, 1.0) is None  # the runtime opened the socket itself
    assert startup_time(10.0, 9.0, 1.0) is None  # a clock that went back: not trusted


def test_endpoint_key_shares_multicast_and_separates_unicast() -> None:
    config = loads("""
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  priority 100
  virtual_ipaddress {
    192.0.2.1/24
  }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  priority 100
  virtual_ipaddress {
    192.0.2.2/24
  }
}
vrrp_instance C {
  interface eth0
  virtual_router_id 3
  priority 100
  unicast_peer {
    192.0.2.9
  }
  virtual_ipaddress {
    192.0.2.3/24
  }
}
""")
    assert not config.errors, config.errors

    a, b, c = (endpoint_key(m, G4, G6) for m in config.instances)
    assert a == b == ("eth0", socket.AF_INET, "224.0.0.18", None)
    assert c == ("eth0", socket.AF_INET, "unicast", None)
