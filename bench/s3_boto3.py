"""boto3 baseline for bench/s3.ts: put_object then get_object of N objects
of SIZE bytes with a thread pool of C workers, on one bucket of the gateway.

usage: s3_boto3.py ENDPOINT BUCKET N SIZE C   (keys from S3_ACCESS_KEY_ID /
S3_SECRET_ACCESS_KEY); prints {"put": seconds, "get": seconds} as JSON.
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

endpoint, bucket, n, size, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
    config=Config(max_pool_connections=c, s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
)
bodies = [bytes([i & 0xFF]) * size for i in range(n)]


def put(i):
    s3.put_object(Bucket=bucket, Key="boto3/o%d.bin" % i, Body=bodies[i])


def get(i):
    b = s3.get_object(Bucket=bucket, Key="boto3/o%d.bin" % i)["Body"].read()
    if len(b) != size or b[0] != (i & 0xFF):
        raise SystemExit("bad read of o%d" % i)


with ThreadPoolExecutor(max_workers=c) as pool:
    t0 = time.perf_counter()
    list(pool.map(put, range(n)))
    t1 = time.perf_counter()
    list(pool.map(get, range(n)))
    t2 = time.perf_counter()
print(json.dumps({"put": t1 - t0, "get": t2 - t1}))
