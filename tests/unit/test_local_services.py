"""The local services' pure helpers."""

from __future__ import annotations

import base64

from tiegraph.services.local import _cluster_id


def test_kraft_cluster_ids_are_16_bytes_and_never_read_as_an_option() -> None:
    # One id in 64 would start with '-' by chance; the storage tool then takes it for a flag.
    ids = [_cluster_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
