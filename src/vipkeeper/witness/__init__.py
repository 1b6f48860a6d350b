"""The quorum witness on etcd (vipkeeper extension): claim.py decides, driver.py and
etcd_gateway.py do the I/O (the `witness` extra: aiohttp), explain.py says it in words."""
