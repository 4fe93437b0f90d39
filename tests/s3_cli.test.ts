// The CLI with s3:// locations, as a person runs it: real `deno run cli/mod.ts`
// processes configured only by S3_* variables, against the real gateway.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { s3Location } from "../cli/_shared.ts";
import { bucketName, type Gateway, gateway, s3Backend, s3Skip } from "./_s3.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const work = mkdtempSync(join(tmpdir(), "hcs-s3-cli-"));

after(() => {
  rmSync(work, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const g = gateway as Gateway;
  const env = { ...process.env, ...g.env, NO_COLOR: "1" };
  return new Promise((done, fail) => {
    const child = spawn(join(root, "node_modules/.bin/deno"), [
      "run",
      "-A",
      join(root, "cli/mod.ts"),
      ...args,
    ], { cwd: work, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

describe("s3:// in the CLI", () => {
  it("s3://bucket/key resolves to the s3 backend's /bucket/key", () => {
    assert.deepEqual(s3Location("s3://my-bucket/a/b.tif"), {
      backend: "s3",
      path: "/my-bucket/a/b.tif",
    });
    assert.deepEqual(s3Location("S3://my-bucket"), { backend: "s3", path: "/my-bucket" });
    assert.equal(s3Location("/local/s3://x"), undefined);
    assert.equal(s3Location("http://host/x"), undefined);
  });

  it("cp disk → s3 and back (files and trees), ls, and exit status 1 on an existing target", {
    skip: s3Skip,
  }, async () => {
    const bucket = bucketName("cli");
    await s3Backend().ensureDirectory(`/${bucket}`);
    writeFileSync(join(work, "a.txt"), "alpha");
    mkdirSync(join(work, "tree/sub"), { recursive: true });
    writeFileSync(join(work, "tree/one.json"), '{"one":1}');
    writeFileSync(join(work, "tree/sub/two.bin"), Uint8Array.of(0, 2, 255));

    let r = await cli(["cp", "a.txt", `s3://${bucket}/a.txt`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await s3Backend().load(`/${bucket}/a.txt`), "alpha");

    r = await cli(["cp", "-r", "tree", `s3://${bucket}/tree`]);
    assert.equal(r.status, 0, r.stderr);
    r = await cli(["ls", "--json", "--recursive", `s3://${bucket}/tree`]);
    assert.equal(r.status, 0, r.stderr);
    const listed = (JSON.parse(r.stdout) as { path: string; type: string }[])
      .filter((e) => e.type === "file").map((e) => e.path).sort();
    assert.deepEqual(listed, [`/${bucket}/tree/one.json`, `/${bucket}/tree/sub/two.bin`]);
    r = await cli(["ls", `s3://${bucket}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /a\.txt/);
    assert.match(r.stdout, /tree/);

    r = await cli(["cp", `s3://${bucket}/a.txt`, "back.txt"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(work, "back.txt"), "utf8"), "alpha");
    r = await cli(["cp", "-r", `s3://${bucket}/tree`, "back-tree"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(work, "back-tree/one.json"), "utf8"), '{"one":1}');
    assert.deepEqual([...readFileSync(join(work, "back-tree/sub/two.bin"))], [0, 2, 255]);

    r = await cli(["cp", "a.txt", `s3://${bucket}/a.txt`]);
    assert.equal(r.status, 1, `existing destination: ${r.stderr}`);
    assert.match(r.stderr, /already exists/);
    r = await cli(["ls", `s3://${bucket}/missing`]);
    assert.equal(r.status, 1, r.stderr);
  });
});
