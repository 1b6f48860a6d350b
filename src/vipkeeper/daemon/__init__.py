"""The daemon: runtime, routers, tracking, process life; see docs/architecture.md."""
