"""onecore-s3: the ``s3`` repository type for onecore (AWS S3, MinIO, Ceph RGW).

Importing this package does not import boto3: the client is made on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
