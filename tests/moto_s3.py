"""One moto S3 server on loopback with a bucket, for a test module's S3 cases."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

AWS_KEYS = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def moto_bucket(bucket: str) -> Iterator[str]:
    """moto in server mode with ``bucket`` made; yields the endpoint URL, then stops it and puts the
    AWS environment back. Skips (its reason) when moto[server] or s3fs is absent."""
    from tests.test_s3 import MotoServer

    import s3fs

    saved = {k: os.environ.get(k) for k in AWS_KEYS}
    os.environ.update(AWS_KEYS)
    server = MotoServer()
    server.start()
    try:
        s3fs.S3FileSystem(endpoint_url=server.endpoint, skip_instance_cache=True).mkdir(bucket)
        yield server.endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
