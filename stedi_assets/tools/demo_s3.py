"""`stedi demo-s3` (`make demo-s3`): the demo on S3, without an AWS account.

Starts an S3- and Glue-compatible server (moto, from the `dev` extra) on 127.0.0.1, uploads
sample landing data to a bucket, and runs the same commands as `make demo` with nothing changed
but the environment: `STEDI_LAKE=s3://…`, `STEDI_S3_ENDPOINT`, `STEDI_GLUE_DATABASE`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

from stedi_assets import settings
from stedi_assets.storage.lake import LANDING_SOURCES, LakeLayout
from stedi_assets.storage.landing_store import landing_store
from stedi_assets.tools.sample_data import write_sample_landing

BUCKET = "stedi-demo"
GLUE_DATABASE = "stedi"


def upload_sample_landing(lake: LakeLayout, client: object, customers: int, seed: int) -> int:
    """Write sample landing data to a temporary folder and upload it; returns the file count."""
    store = landing_store(lake, lambda: client)
    uploaded = 0
    with tempfile.TemporaryDirectory() as folder:
        write_sample_landing(Path(folder), customers=customers, seed=seed)
        for source in LANDING_SOURCES:
            for path in sorted((Path(folder) / source / "landing").iterdir()):
                store.write(source, path.name, path.read_bytes())
                uploaded += 1
    return uploaded


def run_demo(customers: int, seed: int, materialize_command: list[str]) -> None:
    """Serve S3 and Glue on loopback, upload sample landing data, materialize and summarise."""
    from moto.server import ThreadedMotoServer  # a dev package: imported only for the demo

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    root = f"s3://{BUCKET}/lake"
    environment = {
        **os.environ,
        # The local server accepts any credentials; real ones come from the usual AWS chain.
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": settings.DEFAULT_AWS_REGION,
        "AWS_DEFAULT_REGION": settings.DEFAULT_AWS_REGION,
        "STEDI_LAKE": root,
        "STEDI_S3_ENDPOINT": endpoint,
        "STEDI_GLUE_DATABASE": GLUE_DATABASE,
        "STEDI_GLUE_ENDPOINT": endpoint,
    }
    try:
        session = boto3.Session(
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
            region_name=settings.DEFAULT_AWS_REGION,
        )
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        files = upload_sample_landing(LakeLayout(root), s3, customers, seed)
        print(f"S3-compatible server on {endpoint}: uploaded {files} landing files to {root}")
        for command in (materialize_command, [sys.executable, "-m", "stedi_assets", "summary"]):
            subprocess.run(command, env=environment, check=True)
        glue = session.client("glue", endpoint_url=endpoint)
        tables = glue.get_tables(DatabaseName=GLUE_DATABASE)["TableList"]
        print(f"Glue database {GLUE_DATABASE}: " + ", ".join(sorted(t["Name"] for t in tables)))
    finally:
        server.stop()
