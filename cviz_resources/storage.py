"""The storage root as a Dagster resource: a local folder by default, S3 through s3fs when configured.

S3 is configured by environment, the same on every machine that runs a step:
- ``CVIZ_STORAGE_ROOT``: ``s3://bucket/prefix`` (or a local folder);
- ``CVIZ_S3_ENDPOINT_URL``: a non-AWS endpoint (MinIO, Ceph, moto); unset for AWS itself;
- credentials and region the usual AWS way (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
  ``AWS_PROFILE``, an instance or pod role; ``AWS_DEFAULT_REGION``), read by botocore itself.
Credentials never pass through this resource, so they cannot reach logs, run config or metadata.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from cviz.settings import Settings, settings
from cviz.storage import Storage, open_storage

DEFAULT_ROOT = Settings.storage_root  # the dataclass default
# botocore retries a little itself; cviz.storage.with_retries does the patient part (with backoff
# and an error naming the key), so a dead endpoint fails in seconds per attempt, not minutes.
BOTO_CONFIG = {"retries": {"max_attempts": 2, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 60}


def s3_options(endpoint_url: str | None = None) -> dict[str, Any]:
    """s3fs options: the endpoint (argument, else ``$CVIZ_S3_ENDPOINT_URL``) and timeouts; no secrets."""
    endpoint = endpoint_url or settings().s3_endpoint_url
    # max_concurrency=1: s3fs otherwise sends a HEAD before every GET (to split big objects into
    # ranged reads); cviz's objects are small, so that doubled the round trips of every read.
    options: dict[str, Any] = {"config_kwargs": dict(BOTO_CONFIG), "max_concurrency": 1}
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


class StorageResource(dg.ConfigurableResource):
    """Root folder or ``s3://bucket/prefix`` under which every collection output lives.

    ``endpoint_url`` points at a non-AWS S3 server (default: ``$CVIZ_S3_ENDPOINT_URL``). The same
    options open a collection's images and metadata CSV when they are ``s3://`` URLs. Credentials
    come the usual AWS way and are never fields here.
    """

    root: str = DEFAULT_ROOT
    endpoint_url: str | None = None
    viewer_url: str = "http://127.0.0.1:8080"

    _storage: Storage | None = PrivateAttr(default=None)

    @property
    def storage_options(self) -> dict[str, Any]:
        return s3_options(self.endpoint_url)

    def get(self) -> Storage:
        """The backend the root names: ObjectStorage for ``s3://...`` (any fsspec URL), else LocalStorage."""
        if self._storage is None:
            self._storage = open_storage(self.root, self.storage_options)
        return self._storage

    def viewer_link(self, collection: str) -> str:
        return f"{self.viewer_url.rstrip('/')}/?c={collection}"
