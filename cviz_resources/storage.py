"""The storage root as a Dagster resource: a local folder by default, S3 through s3fs when configured."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from cviz.storage import Storage

DEFAULT_ROOT = "cviz_data"


def default_root() -> str:
    return os.environ.get("CVIZ_STORAGE_ROOT", DEFAULT_ROOT)


class StorageResource(dg.ConfigurableResource):
    """Root folder or ``s3://bucket/prefix`` under which every collection output lives.

    S3 credentials come the usual AWS way (env vars, profile); ``endpoint_url`` points at a
    non-AWS server (MinIO, moto). Neither is ever written to asset metadata.
    """

    root: str = DEFAULT_ROOT
    endpoint_url: str | None = None
    viewer_url: str = "http://127.0.0.1:8080"

    _storage: Storage | None = PrivateAttr(default=None)

    @property
    def storage_options(self) -> dict[str, Any]:
        if self.root.startswith("s3://") and self.endpoint_url:
            return {"client_kwargs": {"endpoint_url": self.endpoint_url}}
        return {}

    def get(self) -> Storage:
        if self._storage is None:
            self._storage = Storage(self.root, self.storage_options)
        return self._storage

    def viewer_link(self, collection: str) -> str:
        return f"{self.viewer_url.rstrip('/')}/?c={collection}"
