"""MinIO access for the Python side: one client factory, buckets made on first use."""

from __future__ import annotations

from minio import Minio
from minio.error import S3Error

from mini_streamio.settings import Settings


def minio_client(settings: Settings) -> Minio:
    return Minio(
        settings.minio_host,
        access_key=settings.minio_access_key,
        secret_key=settings.minio_secret_key.get_secret_value(),
        secure=settings.minio_secure,
        region=settings.minio_region,
    )


def ensure_bucket(client: Minio, bucket: str) -> None:
    """Creates the bucket unless it exists; safe when several processes race to create it."""
    if client.bucket_exists(bucket):
        return
    try:
        client.make_bucket(bucket)
    except S3Error as error:
        if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
