"""The S3 artifact store (AWS S3 and S3-compatible servers: MinIO, Ceph, moto…), via boto3.

``s3://BUCKET/PREFIX``; blobs are objects ``PREFIX/blobs/sha256/<hex>``. Credentials, region and
endpoint come from boto3's standard configuration only — ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (botocore's service-specific endpoints), profiles —
never the spec or the command line. With an endpoint set (an S3-compatible server) requests use
path-style addressing, which every such server serves.

Transfers stream: uploads go through ``upload_fileobj`` (multipart past 8 MiB) from a reader
that hashes what it hands on, downloads through ``download_fileobj`` into a writer that hashes
what it receives; at most a few parts are in memory at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from lepton_ci.errors import MissingDependency
from lepton_ci.store import (
    ArtifactStore,
    MissingBlob,
    StoreError,
    blob_key,
    check_digest,
    new_file,
)

PART = 8 << 20
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
NOT_FOUND = ("404", "NoSuchKey", "NotFound")


class _HashingReader:
    """A read-only, non-seekable view of a file that hashes every byte read (so s3transfer
    streams it part by part, in order)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha.update(data)
        return data


class _HashingWriter:
    """A write-only, non-seekable file (so s3transfer writes parts in order) that hashes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.handle.write(data)


class S3Store(ArtifactStore):
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
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError:
            raise MissingDependency("boto3", "s3") from None
        endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
        config = Config(s3={"addressing_style": "path"} if endpoint else {})
        with self._errors("connect to"):
            self.client: Any = boto3.client("s3", config=config)
        self.endpoint = endpoint
        self.transfer = TransferConfig(
            multipart_threshold=PART,
            multipart_chunksize=PART,
            max_concurrency=4,
            preferred_transfer_client="classic",
        )
        self.transfer.max_in_memory_upload_chunks = 4  # s3transfer: parts buffered at a time

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
                raise MissingBlob(
                    f"the artifact store {where} has no blob sha256:{digest}",
                    hint="the store is not the one the version was registered with "
                    "(registry.artifacts, LEPTON_ARTIFACTS), or the blob was deleted",
                ) from None
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

    def _size(self, digest: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            with self._errors("read", digest):
                head = self.client.head_object(Bucket=self.bucket, Key=self.key(digest))
        except MissingBlob:
            return None
        except ClientError:  # pragma: no cover - _errors translates every ClientError
            return None
        return int(head["ContentLength"])

    def has(self, digest: str) -> bool:
        return self._size(digest) is not None

    def put(self, path: Path, digest: str) -> bool:
        size = Path(path).stat().st_size
        if self._size(digest) == size:
            return False
        key = self.key(digest)
        with Path(path).open("rb") as handle:
            reader = _HashingReader(handle)
            with self._errors("upload to"):
                self.client.upload_fileobj(reader, self.bucket, key, Config=self.transfer)
        actual = reader.sha.hexdigest()
        if actual != digest:
            with self._errors("clean up"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
            check_digest(self, digest, actual)
        return True

    def get(self, digest: str, size: int, target: Path) -> None:
        with new_file(target) as out:
            writer = _HashingWriter(out)
            with self._errors("download from", digest):
                self.client.download_fileobj(
                    self.bucket, self.key(digest), writer, Config=self.transfer
                )
            actual = writer.sha.hexdigest()
            if actual != digest or writer.size != size:
                raise self.tampered(digest, actual, writer.size, size)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
