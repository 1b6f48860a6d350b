"""vipkeeper: a keepalived-compatible VRRP failover daemon whose process tracking cannot race."""

__version__ = "0.1.0"
