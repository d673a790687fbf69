"""The S3 storage backend (boto3), for several replicas on one bucket.

Each object is one ``PutObject``: S3 makes an object visible whole or not at
all, so a reader never sees a half-written zip. ``if_absent`` is a
conditional create (``If-None-Match: *``,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html):
``412 PreconditionFailed`` (or ``409`` while another create of the key is in
flight) means another writer was first. A server that does not implement
conditional writes (``501``) gets a ``HeadObject`` check before the put.
Tests run it against SeaweedFS (``weed mini``) on loopback.
"""

from __future__ import annotations

from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from kubegate.goproxy.errors import StorageError
from kubegate.goproxy.storage import check_key

__all__ = ["S3Storage"]


class S3Storage:
    """Objects under ``prefix`` in ``bucket``.

    Args:
        bucket: the bucket (created when missing and ``create`` is set).
        prefix: key prefix (``""`` or ``team/goproxy``).
        endpoint_url: an S3-compatible endpoint (``http://127.0.0.1:8333``); AWS when ``None``.
        client_kwargs: passed to ``boto3.client`` (credentials, region).

    Raises:
        StorageError: the bucket cannot be reached or created.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        create: bool = True,
        **client_kwargs: Any,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.name = f"s3://{bucket}/{self.prefix}"
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60)
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url, config=config, **client_kwargs)
        self._conditional = True
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if not create or _status(exc) not in (404, 400, 403):
                raise StorageError(f"cannot use bucket {bucket}: {exc}") from None
            try:
                self.client.create_bucket(Bucket=bucket)
            except (ClientError, BotoCoreError) as err:
                raise StorageError(f"cannot create bucket {bucket}: {err}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot reach {endpoint_url or 'S3'}: {exc}") from None

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data: bytes = response["Body"].read()
            return data
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise StorageError(f"cannot read {key}: {exc}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from None

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        full = self._key(key)
        try:
            if if_absent and self._conditional:
                try:
                    self.client.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
                    return True
                except ClientError as exc:
                    if _status(exc) in (412, 409):
                        return False
                    if _status(exc) != 501:
                        raise
                    self._conditional = False
            if if_absent and self.exists(key):
                return False
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
            return True
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot write {key}: {exc}") from None

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise StorageError(f"cannot stat {key}: {exc}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from None

    def list(self, prefix: str) -> list[str]:
        out: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                out.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"cannot list {prefix}: {exc}") from None
        return sorted(out)


def _status(exc: ClientError) -> int:
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode", 0)
    code = exc.response.get("Error", {}).get("Code", "")
    if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
        return 404
    if code == "PreconditionFailed":
        return 412
    if code == "NotImplemented":
        return 501
    return int(status)
