// S3 pieces that need no gateway: multipart part planning under S3's
// limits, and how keys and buckets become URLs (the trust boundary: a key
// can never change the host or the path).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { S3Backend } from "../backends/s3.ts";

describe("s3 multipart planning (no gateway needed)", () => {
  it("copies above 5 GiB are split into contiguous parts within S3's limits", async () => {
    const { planParts } = await import("../backends/s3.ts");
    const { copyRange, MAX_PART, MAX_PARTS, MIN_PART } = await import("../backends/s3/parts.ts");
    const size = 6 * 2 ** 30 + 17;
    const parts = planParts(size, 512 * 2 ** 20);
    assert.equal(parts.length, 13);
    assert.deepEqual(parts.map((p) => p.n), parts.map((_, i) => i + 1));
    assert.equal(parts[0]!.start, 0);
    for (let i = 1; i < parts.length; i++) assert.equal(parts[i]!.start, parts[i - 1]!.end);
    assert.equal(parts.at(-1)!.end, size);
    assert.equal(parts.at(-1)!.end - parts.at(-1)!.start, 17);
    assert.equal(copyRange(parts[1]!), `bytes=${512 * 2 ** 20}-${2 * 512 * 2 ** 20 - 1}`);
    // 5 TiB at the minimum part size would need 1M parts: the part size grows instead
    const huge = planParts(5 * 2 ** 40, MIN_PART);
    assert.ok(huge.length <= MAX_PARTS, String(huge.length));
    assert.ok(huge.every((p) => p.end - p.start <= MAX_PART));
    assert.equal(huge.at(-1)!.end, 5 * 2 ** 40);
    assert.deepEqual(planParts(0, MIN_PART), [{ n: 1, start: 0, end: 0 }]);
    assert.throws(() => planParts(5 * 2 ** 40 + 1, MIN_PART), RangeError);
    assert.throws(() => planParts(10, 1024), RangeError);
  });
});

describe("s3 addressing (no gateway needed)", () => {
  it("keys are percent-encoded per segment; virtual-hosted unless an IP or forcePathStyle", async () => {
    const { S3Client } = await import("../backends/s3/client.ts");
    const make = (endpoint: string, forcePathStyle: boolean) =>
      new S3Client({
        endpoint: new URL(endpoint),
        region: "eu-west-1",
        credentials: { accessKeyId: "a", secretAccessKey: "b" },
        forcePathStyle,
        fetch,
        retries: 0,
        retryDelayMs: 1,
        maxRetryDelayMs: 1,
        timeoutMs: 1000,
        signal: undefined,
      });
    const aws = make("https://s3.eu-west-1.amazonaws.com", false);
    const u = aws.url("my-bucket", "dir/a b?c#d%e/@x(1)", { prefix: "p q+r" });
    assert.equal(u.host, "my-bucket.s3.eu-west-1.amazonaws.com");
    assert.equal(u.pathname, "/dir/a%20b%3Fc%23d%25e/%40x%281%29");
    assert.equal(u.search, "?prefix=p%20q%2Br");
    assert.equal(u.hash, "");
    // a dotted bucket cannot be a TLS-valid subdomain: path style
    assert.equal(aws.url("my.bucket", "k").href, "https://s3.eu-west-1.amazonaws.com/my.bucket/k");
    assert.equal(
      make("http://127.0.0.1:7480", false).url("b1b", "k").href,
      "http://127.0.0.1:7480/b1b/k",
    );
    assert.equal(
      make("https://minio.example:9000/base/", true).url("bkt", "x/y").href,
      "https://minio.example:9000/base/bkt/x/y",
    );
    assert.throws(() =>
      new S3Backend({
        endpoint: "http://user:pw@127.0.0.1:1",
        region: "us-east-1",
        credentials: { accessKeyId: "a", secretAccessKey: "b" },
      }), TypeError);
    assert.throws(() =>
      new S3Backend({
        endpoint: "file:///etc",
        region: "us-east-1",
        credentials: { accessKeyId: "a", secretAccessKey: "b" },
      }), TypeError);
  });
});
