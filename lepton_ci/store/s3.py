"""The S3 artifact store (AWS S3 and S3-compatible servers: MinIO, Ceph, moto…), via boto3.

``s3://BUCKET/PREFIX``; blobs are objects ``PREFIX/blobs/sha256/<hex>``. Credentials, region and
endpoint come from boto3's standard configuration only — ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (botocore's service-specific endpoints), profiles —
never the spec or the command line. With an endpoint set (an S3-compatible server) requests use
path-style addressing, which every such server serves.

Blobs are chunks of at most :data:`lepton_ci.store.versions.CHUNK_SIZE` bytes, so each is one
``PutObject`` (with its SHA-256 checksum, which S3 verifies before storing) and one
``GetObject``; multipart uploads are never needed and one chunk is all a transfer holds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from lepton_ci.errors import MissingDependency
from lepton_ci.store import ArtifactStore, MissingBlob, StoreError, blob_key

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
NOT_FOUND = ("404", "NoSuchKey", "NotFound")


class S3Store(ArtifactStore):
    parallel = 8  # boto3 clients are thread-safe; 8 chunks of 1 MiB in flight at most

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise StoreError(
                f"artifact store {url!r} is not s3://BUCKET[/PREFIX]",
                hint="credentials go in AWS_* environment variables, never in the URL",
            )
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise MissingDependency("boto3", "s3") from None
        endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
        config = Config(s3={"addressing_style": "path"} if endpoint else {})
        with self._errors("connect to"):
            # a session of its own: boto3's default session caches the credentials it found
            self.client: Any = boto3.session.Session().client("s3", config=config)
        self.endpoint = endpoint

    def key(self, digest: str) -> str:
        return f"{self.prefix}/{blob_key(digest)}" if self.prefix else blob_key(digest)

    @contextlib.contextmanager
    def _errors(self, action: str, digest: str | None = None) -> Iterator[None]:
        """botocore's errors as ours, with the server's words (never credentials)."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = self.location + (f" ({self.endpoint})" if getattr(self, "endpoint", None) else "")
        try:
            yield
        except NoCredentialsError:
            raise StoreError(
                f"cannot {action} the artifact store {where}: no AWS credentials",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (masked CI variables or "
                "a Jenkins credential bound to them); for an S3-compatible server also "
                "AWS_ENDPOINT_URL_S3",
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if digest is not None and code in NOT_FOUND:
                raise self.missing(digest) from None
            hint = (
                f"create the bucket first: aws s3 mb s3://{self.bucket}"
                if code == "NoSuchBucket"
                else "check the bucket, its policy and the AWS_* credentials"
            )
            words = f"{code} {error.get('Message', '')}".strip()
            raise StoreError(
                f"cannot {action} the artifact store {where}: {words}",
                hint=hint,
            ) from None
        except BotoCoreError as exc:
            raise StoreError(
                f"cannot {action} the artifact store {where}: {exc}",
                hint="check AWS_ENDPOINT_URL_S3 / AWS_REGION and that the server is reachable",
            ) from None

    def has(self, digest: str) -> bool:
        try:
            with self._errors("read", digest):
                self.client.head_object(Bucket=self.bucket, Key=self.key(digest))
        except MissingBlob:
            return False
        return True

    def put(self, digest: str, data: bytes) -> bool:
        if self.has(digest):
            return False
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        with self._errors("upload to"):
            # the server checks the bytes it received against their SHA-256 before storing
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(digest),
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        return True

    def read(self, digest: str) -> bytes:
        with self._errors("download from", digest):
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(digest))
            data: bytes = response["Body"].read()
        return data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
