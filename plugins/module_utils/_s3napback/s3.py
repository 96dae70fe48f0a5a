# Copyright: Contributors to s3napback.s3napback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""S3 through boto3: one shared client, retries with jitter, and errors translated into one line."""

from __future__ import annotations

import base64
import datetime
import logging
import os
import random
import time
import typing as t
from dataclasses import dataclass

from . import _deps
from .credentials import read_credentials
from .errors import StorageError

log = logging.getLogger(__name__)

# Errors worth another attempt: throttling, server trouble, dropped connections.
TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "502",
    "504",
}


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint_url: t.Optional[str] = None
    region: t.Optional[str] = None
    addressing_style: str = "auto"
    key_file: t.Optional[str] = None
    storage_class: t.Optional[str] = None
    attempts: int = 5  # our own retries around each chunk, on top of botocore's


def read_key_file(path: str) -> t.Tuple[str, str]:
    """The seed's credentials file: ``key=ACCESS`` and ``secret=SECRET`` lines (js3tream's format)."""
    values = read_credentials(path, ("key", "secret"), "S3KeyFile")
    return values["key"], values["secret"]


def make_client(settings: S3Settings) -> t.Any:
    boto3 = _deps.require_boto3()
    kwargs: t.Dict[str, t.Any] = {}
    if settings.key_file:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = read_key_file(settings.key_file)
    region = settings.region or ("us-east-1" if settings.endpoint_url else None)
    options: t.Dict[str, t.Any] = dict(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=64,
        # Every upload carries the x-amz-checksum-sha256 the engine computed, which the store verifies and
        # the signature covers; hashing the body a second time for SigV4 (botocore does on plain http)
        # would only burn CPU.
        s3={"addressing_style": settings.addressing_style, "payload_signing_enabled": False},
        # Chunks are uploaded from buffers that are reused chunk after chunk, without a copy (ChunkBody);
        # botocore's parameter check admits only bytes, bytearray and files. Every call is made by this
        # module with fixed types, so the check has nothing else to catch; bucket names are still checked
        # by their own handler.
        parameter_validation=False,
    )
    # The engine checks every downloaded chunk's SHA-256 against the manifest itself; botocore >= 1.36
    # would verify response checksums a second time. Older botocore (Debian 12) has no such option.
    try:
        config = _deps.botocore.config.Config(response_checksum_validation="when_required", **options)
    except TypeError:
        config = _deps.botocore.config.Config(**options)
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=settings.endpoint_url, region_name=region, config=config, **kwargs)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_transient(exc: BaseException) -> bool:
    exceptions = _deps.botocore.exceptions
    if isinstance(
        exc,
        (
            exceptions.EndpointConnectionError,
            exceptions.ConnectionClosedError,
            exceptions.ReadTimeoutError,
            exceptions.ConnectTimeoutError,
        ),
    ):
        return True
    return isinstance(exc, exceptions.ClientError) and _error_code(exc) in TRANSIENT_CODES


class ChunkBody:
    """An upload body over a caller's buffer: sent in one piece, never copied, and rewindable for retries.

    botocore rewinds every body that is not bytes, str or bytearray before each of its retries (``seek(0)``),
    and a memoryview cannot seek: a retryable error (SlowDown, a 503, a dropped connection) would end the
    upload instead of retrying it. This body can; urllib3 and http.client send it as an iterable of its one
    block, straight from the buffer. It deliberately has no ``read``, which would make them send it in 16 KiB
    copies.
    """

    def __init__(self, data: t.Union[bytes, memoryview]) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> t.Iterator[t.Union[bytes, memoryview]]:
        return iter((self.data,))

    def seek(self, offset: int, whence: int = 0) -> int:  # noqa: ARG002 - every send starts from the beginning
        return 0

    def tell(self) -> int:
        return 0


class S3Store:
    """The bucket, as the engine sees it. All methods raise StorageError with a one-line message."""

    def __init__(self, settings: S3Settings, client: t.Any = None) -> None:
        self.settings = settings
        self.client = client if client is not None else make_client(settings)
        self.where = f"s3://{settings.bucket}" + (f" at {settings.endpoint_url}" if settings.endpoint_url else "")

    # -- error handling ---------------------------------------------------------------------------------------
    def explain(self, action: str, exc: BaseException) -> StorageError:
        """Translate a botocore error into what went wrong and what to do about it."""
        exceptions = _deps.botocore.exceptions
        if isinstance(exc, exceptions.NoCredentialsError):
            return StorageError(f"{action}: no S3 credentials; set S3KeyFile or the AWS_* environment variables")
        if isinstance(exc, (exceptions.EndpointConnectionError, exceptions.ConnectTimeoutError)):
            return StorageError(f"{action}: cannot reach {self.where}; check S3Endpoint and the network")
        if isinstance(exc, exceptions.ClientError):
            code = _error_code(exc)
            if code in ("NoSuchBucket",) or (code in ("404", "NotFound") and action.startswith("open bucket")):
                return StorageError(f"{action}: {self.where} does not exist; create the bucket or fix Bucket")
            if code in ("InvalidAccessKeyId",):
                return StorageError(f"{action}: the access key is not known to {self.where}; check S3KeyFile")
            if code in ("SignatureDoesNotMatch",):
                return StorageError(f"{action}: the secret key is wrong for {self.where}; check S3KeyFile")
            if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
                return StorageError(
                    f"{action}: access denied to {self.where}; check the bucket name, the credentials and their policy"
                )
            if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
                return StorageError(f"{action}: the store received different bytes than were sent ({code})")
            if not code:  # no S3 error document: a web server, a proxy's error page
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
                return StorageError(f"{action}: {self.where} answered HTTP {status}, not as S3 does; check S3Endpoint")
            message = exc.response.get("Error", {}).get("Message", "") or code
            return StorageError(f"{action}: {self.where} answered {code}: {message}")
        if isinstance(exc, exceptions.BotoCoreError):
            return StorageError(f"{action}: {exc}")
        return StorageError(f"{action}: {type(exc).__name__}: {exc}")

    def _call(
        self, action: str, func: t.Callable[..., t.Any], *args: t.Any, attempts: int = 0, **kwargs: t.Any
    ) -> t.Any:
        """Run one S3 call with jittered exponential backoff on transient errors."""
        attempts = max(1, attempts or self.settings.attempts)
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except RecursionError:  # botocore follows an endpoint's redirects (http -> https, say) without end
                raise StorageError(
                    f"{action}: {self.where} redirects elsewhere; check S3Endpoint (https?) and S3Region"
                ) from None
            except Exception as exc:  # botocore raises many unrelated classes
                if _deps.botocore is None or not isinstance(
                    exc, (_deps.botocore.exceptions.BotoCoreError, _deps.botocore.exceptions.ClientError)
                ):
                    raise
                if attempt < attempts and is_transient(exc):
                    delay = random.uniform(0, min(20.0, 0.5 * 2**attempt))  # noqa: S311 - jitter, not crypto
                    log.debug("%s: attempt %d failed (%s); retrying in %.1f s", action, attempt, exc, delay)
                    time.sleep(delay)
                    continue
                raise self.explain(action, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- operations -------------------------------------------------------------------------------------------
    def check_bucket(self) -> None:
        """The first call of a run. A listing, not HEAD: a HEAD answer has no body, so a 403 could not tell a
        wrong secret from an unknown key or a missing permission; the listing's error code can."""
        action = f"open bucket {self.settings.bucket}"
        listing = self._call(
            action,
            self.client.list_objects_v2,
            attempts=2,  # an operator waiting at a terminal hears about a dead endpoint quickly
            Bucket=self.settings.bucket,
            MaxKeys=1,
        )
        if not {"Name", "KeyCount", "IsTruncated"} & listing.keys():  # a web server that answers 200 to anything
            raise StorageError(f"{action}: {self.where} did not answer with a bucket listing; check S3Endpoint")

    def put(
        self, key: str, data: t.Union[bytes, memoryview], sha256: bytes, storage_class: t.Optional[str] = None
    ) -> str:
        """Upload one object with its SHA-256, which the store checks; returns "verified" or "unchecked".

        Stores that do not support checksums may ignore the header: only an echoed checksum counts.
        """
        b64 = base64.b64encode(sha256).decode()
        extra: t.Dict[str, t.Any] = {}
        if storage_class or self.settings.storage_class:
            extra["StorageClass"] = storage_class or self.settings.storage_class
        response = self._call(
            f"upload {key}",
            self.client.put_object,
            Bucket=self.settings.bucket,
            Key=key,
            Body=ChunkBody(data),
            ChecksumSHA256=b64,
            **extra,
        )
        echoed = response.get("ChecksumSHA256")
        if echoed is None:
            return "unchecked"
        if echoed != b64:
            raise StorageError(f"upload {key}: the store recorded SHA-256 {echoed}, expected {b64}")
        return "verified"

    def get(self, key: str) -> bytes:
        def fetch() -> bytes:
            return self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()

        return self._call(f"download {key}", fetch)

    def list(self, prefix: str) -> t.List[t.Tuple[str, int]]:
        """(key, size) of every object under ``prefix``."""

        def fetch() -> t.List[t.Tuple[str, int]]:
            paginator = self.client.get_paginator("list_objects_v2")
            found = []
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix):
                found.extend((o["Key"], o["Size"]) for o in page.get("Contents", []))
            return found

        return self._call(f"list {prefix}", fetch)

    def retain(self, key: str, mode: str, until: datetime.datetime) -> None:
        """Object Lock on the object's current version: nobody (in COMPLIANCE mode) or nobody without the
        bypass permission (GOVERNANCE) can delete or overwrite that version before ``until``."""
        self._call(
            f"lock {key}",
            self.client.put_object_retention,
            Bucket=self.settings.bucket,
            Key=key,
            Retention={"Mode": mode, "RetainUntilDate": until},
        )

    def object_lock_enabled(self) -> bool:
        def fetch() -> bool:
            try:
                answer = self.client.get_object_lock_configuration(Bucket=self.settings.bucket)
            except _deps.botocore.exceptions.ClientError as exc:
                if "ObjectLockConfiguration" in exc.response.get("Error", {}).get("Code", ""):
                    return False  # ObjectLockConfigurationNotFoundError
                raise
            return answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

        return self._call(f"read the Object Lock setting of {self.settings.bucket}", fetch)

    def versions(self, prefix: str) -> t.List[t.Dict[str, str]]:
        """Every version and delete marker under ``prefix``, as delete_objects takes them."""

        def fetch() -> t.List[t.Dict[str, str]]:
            found = []
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.settings.bucket, Prefix=prefix
            ):
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            return found

        return self._call(f"list versions of {prefix}", fetch)

    def delete(self, keys: t.Sequence[str], *, all_versions: bool = False) -> None:
        """Delete ``keys``; with ``all_versions`` (a versioned bucket, as Object Lock needs) every version of
        them, so that the storage is freed instead of hidden behind delete markers."""
        objects: t.List[t.Dict[str, str]] = [{"Key": k} for k in keys]
        if all_versions and keys:
            wanted = set(keys)
            objects = [v for v in self.versions(os.path.commonprefix(list(keys))) if v["Key"] in wanted]
        for start in range(0, len(objects), 1000):
            batch = objects[start : start + 1000]
            response = self._call(
                f"delete {len(batch)} objects",
                self.client.delete_objects,
                Bucket=self.settings.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"delete {first.get('Key')}: {first.get('Code')}: {first.get('Message')} "
                    f"({len(errors)} objects not deleted)"
                )
