"""netns name checks and errors that need no root."""

from __future__ import annotations

import pytest

from vipkeeper.net import netns


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(netns.NetnsError, match="not a network namespace name"):
        netns.netns_path(bad)


def test_missing_namespace_is_one_clear_error() -> None:
    with pytest.raises(netns.NetnsError, match="vk-missing-ns"):
        netns.enter("vk-missing-ns")
