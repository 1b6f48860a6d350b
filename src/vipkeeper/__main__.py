from vipkeeper.cli import entry

entry()
