"""boto3 baseline for bench/s3.ts: put_object then get_object of N objects
of SIZE bytes with a thread pool of C workers, on one bucket of the gateway.

usage: s3_boto3.py ENDPOINT BUCKET N SIZE C [ROUNDS]   (keys from S3_ACCESS_KEY_ID /
S3_SECRET_ACCESS_KEY); each round writes its own prefix then reads it back;
prints the median {"put": seconds, "get": seconds} over ROUNDS (default 1) as JSON.
"""
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

endpoint, bucket, n, size, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 1
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ["S3_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["S3_SECRET_ACCESS_KEY"],
    config=Config(max_pool_connections=c, s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
)
bodies = [bytes([i & 0xFF]) * size for i in range(n)]


def put(r, i):
    s3.put_object(Bucket=bucket, Key="boto3/r%d/o%d.bin" % (r, i), Body=bodies[i])


def get(r, i):
    b = s3.get_object(Bucket=bucket, Key="boto3/r%d/o%d.bin" % (r, i))["Body"].read()
    if len(b) != size or b[0] != (i & 0xFF):
        raise SystemExit("bad read of o%d" % i)


puts, gets = [], []
with ThreadPoolExecutor(max_workers=c) as pool:
    for r in range(rounds):
        t0 = time.perf_counter()
        list(pool.map(lambda i: put(r, i), range(n)))
        t1 = time.perf_counter()
        list(pool.map(lambda i: get(r, i), range(n)))
        t2 = time.perf_counter()
        puts.append(t1 - t0)
        gets.append(t2 - t1)
median = lambda xs: sorted(xs)[len(xs) // 2]
print(json.dumps({"put": median(puts), "get": median(gets)}))
