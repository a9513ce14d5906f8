"""DuckDB over a warehouse on S3: the httpfs extension from its PyPI package, and a secret that lives in memory only.

The extension comes from `duckdb-extension-httpfs` (the same version as duckdb), so nothing is
downloaded at run time. Credentials are resolved the way every AWS tool resolves them (environment
variables, then profiles and config files, through botocore) and handed to a temporary secret of one
connection: never written to the catalog file, a log or metadata. A user opening the catalog file
in their own DuckDB runs `LOAD httpfs` and `CREATE SECRET (TYPE s3, PROVIDER credential_chain)` (or
uses `synth query`, which does this for them).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import duckdb

from synth_assets.storage.location import Location, is_remote, is_s3
from synth_assets.storage.sql import quote_literal


class ObjectStoreError(RuntimeError):
    """A warehouse URL DuckDB cannot read: a scheme other than s3://, or httpfs missing."""


def httpfs_extension() -> Path:
    """The httpfs extension file built for the running duckdb."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise ObjectStoreError("a warehouse on S3 needs the httpfs extension: pip install duckdb-extension-httpfs"
                               f"=={duckdb.__version__}") from None
    path = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.is_file():
        raise ObjectStoreError(f"duckdb-extension-httpfs has no build for duckdb {duckdb.__version__} ({path}); "
                               f"install duckdb-extension-httpfs=={duckdb.__version__}")
    return path


def _secret_sql(scheme: str) -> str:
    import botocore.session

    session = botocore.session.Session()
    creds = session.get_credentials()
    frozen = creds.get_frozen_credentials() if creds else None
    fields = {"TYPE": "s3"}
    if frozen:
        fields |= {"KEY_ID": frozen.access_key, "SECRET": frozen.secret_key}
        if frozen.token:
            fields["SESSION_TOKEN"] = frozen.token
    region = session.get_config_variable("region") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        fields["REGION"] = region
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:  # an S3-compatible server (MinIO, moto, Ceph): host:port, path-style URLs
        url = urlparse(endpoint)
        fields |= {"ENDPOINT": url.netloc or url.path, "URL_STYLE": "path"}
        use_ssl = url.scheme != "http"
    else:
        use_ssl = True
    body = ", ".join(f"{k} {quote_literal(v) if k != 'TYPE' else v}" for k, v in fields.items())
    return f"create or replace temporary secret synth_{scheme} ({body}, USE_SSL {str(use_ssl).lower()})"


def attach_object_store(con: duckdb.DuckDBPyConnection, root: Location) -> None:
    """Let `con` read the warehouse's objects (a local warehouse needs nothing)."""
    if not is_remote(root):
        return
    if not is_s3(root):
        raise ObjectStoreError(f"DuckDB reads s3:// warehouses only; {root} has no catalog views")
    con.execute(f"load {quote_literal(httpfs_extension())}")
    con.execute(_secret_sql(urlparse(str(root)).scheme))
