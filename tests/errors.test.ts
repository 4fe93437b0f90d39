import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  AlreadyExistsError,
  BackendNotFoundError,
  CorruptDataError,
  DirectoryNotEmptyError,
  httpStatusError,
  IsADirectoryError,
  isStorageErrorCode,
  LockLostError,
  LockTimeoutError,
  NotADirectoryError,
  NotFoundError,
  PermissionDeniedError,
  restate,
  STORAGE_ERROR_CODES,
  StorageError,
  StorageResolutionError,
  toStorageError,
  UnsupportedFormatError,
  UnsupportedOperationError,
} from "../errors.ts";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Runs `fn`, expecting it to throw, and returns what it threw. */
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

async function caughtAsync(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("errors", () => {
  it("every class is a StorageError with its code, operation, path and cause", () => {
    const cause = new Error("inner");
    const cases: [StorageError, string][] = [
      [new NotFoundError("load", "/a", undefined, { cause }), "ENOENT"],
      [new AlreadyExistsError("save", "/a", undefined, { cause }), "EEXIST"],
      [new IsADirectoryError("load", "/a", undefined, { cause }), "EISDIR"],
      [new NotADirectoryError("listDir", "/a", undefined, { cause }), "ENOTDIR"],
      [new DirectoryNotEmptyError("delete", "/a", undefined, { cause }), "ENOTEMPTY"],
      [new PermissionDeniedError("load", "/a", undefined, { cause }), "EACCES"],
      [new StorageResolutionError("load", "/a", undefined, { cause }), "ERR_STORAGE_RESOLUTION"],
      [new UnsupportedFormatError("save", "/a", undefined, { cause }), "ERR_UNSUPPORTED_FORMAT"],
    ];
    for (const [err, code] of cases) {
      assert.ok(err instanceof StorageError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, code);
      assert.equal(err.path, "/a");
      assert.equal(err.cause, cause);
      assert.equal(err.name, err.constructor.name);
      assert.match(err.message, new RegExp(`^${err.operation} '/a': .+`));
    }
  });

  it("messages read <operation> '<path>': <reason>", () => {
    assert.equal(
      new NotFoundError("load", "/data/a.tif", "no such file").message,
      "load '/data/a.tif': no such file",
    );
  });

  it("BackendNotFoundError lists available backends", () => {
    const e = new BackendNotFoundError("s3", ["disk", "memory"]);
    assert.equal(e.code, "ERR_BACKEND_NOT_FOUND");
    assert.match(e.message, /disk, memory/);
    assert.deepEqual(e.available, ["disk", "memory"]);
  });

  it("LockTimeoutError carries the timeout", () => {
    const e = new LockTimeoutError("atomicUpdateJson", "/a.json", 250);
    assert.ok(e instanceof StorageError);
    assert.equal(e.timeoutMs, 250);
    assert.match(e.message, /250 ms/);
  });

  it("HTTP statuses map to the same classes", () => {
    assert.ok(httpStatusError({ status: 404 }, "load", "u") instanceof NotFoundError);
    assert.ok(httpStatusError({ status: 410 }, "load", "u") instanceof NotFoundError);
    assert.ok(httpStatusError({ status: 401 }, "load", "u") instanceof PermissionDeniedError);
    assert.ok(httpStatusError({ status: 403 }, "load", "u") instanceof PermissionDeniedError);
    const e = httpStatusError({ status: 503, statusText: "Service Unavailable" }, "load", "u");
    assert.equal(e.constructor, StorageError);
    assert.equal(e.status, 503);
    assert.match(e.message, /503 Service Unavailable/);
    const r = toStorageError(new Response("", { status: 404 }), "load", "u");
    assert.ok(r instanceof NotFoundError);
    assert.equal(r.status, 404);
  });

  it("restate keeps the class, code, status and class fields, with a new context", () => {
    const http = httpStatusError({ status: 404 }, "load", "https://x/a");
    const again = restate(http, "loadBatch", "/virtual/a", `${http.reason} (after 3 attempts)`);
    assert.ok(again instanceof NotFoundError);
    assert.equal(again.status, 404);
    assert.equal(again.cause, http);
    assert.equal(
      again.message,
      "loadBatch '/virtual/a': no such file (HTTP 404) (after 3 attempts)",
    );
    const lock = restate(new LockTimeoutError("op", "/a.json", 75), "update", "/b.json", "busy");
    assert.ok(lock instanceof LockTimeoutError);
    assert.equal((lock as LockTimeoutError).timeoutMs, 75);
    assert.equal(lock.code, "ETIMEDOUT");
    assert.equal(lock.name, "LockTimeoutError");
    const listed = restate(new BackendNotFoundError("s3", ["disk"]), "fm", "s3", "gone");
    assert.deepEqual((listed as BackendNotFoundError).available, ["disk"]);
  });

  it("storage errors pass through toStorageError unchanged", () => {
    const e = new NotFoundError("load", "/x");
    assert.equal(toStorageError(e, "other", "/y"), e);
  });

  it("unknown failures become a StorageError keeping the cause", () => {
    const inner = new Error("weird");
    const e = toStorageError(inner, "load", "/x");
    assert.equal(e.constructor, StorageError);
    assert.equal(e.cause, inner);
    assert.match(e.message, /^load '\/x': weird/);
  });
});

describe("errors from real failures map the same on every runtime", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hcs-errors-"));
  const file = path.join(dir, "f.txt");
  fs.writeFileSync(file, "x");
  fs.mkdirSync(path.join(dir, "full"));
  fs.writeFileSync(path.join(dir, "full", "a"), "a");
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: [string, () => unknown, abstract new (...a: never[]) => StorageError][] = [
    ["ENOENT (readFileSync)", () => fs.readFileSync(path.join(dir, "missing")), NotFoundError],
    ["EEXIST (mkdirSync)", () => fs.mkdirSync(path.join(dir, "full")), AlreadyExistsError],
    ["EISDIR (readFileSync on a dir)", () => fs.readFileSync(dir), IsADirectoryError],
    ["ENOTDIR (readdirSync on a file)", () => fs.readdirSync(file), NotADirectoryError],
    ["ENOTDIR (below a file)", () => fs.statSync(path.join(file, "x")), NotADirectoryError],
    ["ENOTEMPTY (rmdirSync)", () => fs.rmdirSync(path.join(dir, "full")), DirectoryNotEmptyError],
    ["EEXIST (O_EXCL open)", () => fs.openSync(file, "wx"), AlreadyExistsError],
  ];
  for (const [name, fn, cls] of cases) {
    it(`node:fs ${name}`, () => {
      const mapped = toStorageError(caught(fn), "op", "/p");
      assert.ok(
        mapped instanceof cls,
        `${name}: got ${mapped.constructor.name} (${mapped.message})`,
      );
      assert.match(mapped.message, /^op '\/p': /);
    });
  }

  it("node:fs/promises ENOENT", async () => {
    const err = await caughtAsync(() => fs.promises.readFile(path.join(dir, "nope")));
    assert.ok(toStorageError(err, "load", "/nope") instanceof NotFoundError);
  });

  it("EACCES on an unreadable file", { skip: isRoot ? "root reads anything" : false }, () => {
    const locked = path.join(dir, "locked");
    fs.writeFileSync(locked, "x");
    fs.chmodSync(locked, 0o000);
    const mapped = toStorageError(caught(() => fs.readFileSync(locked)), "load", locked);
    assert.ok(mapped instanceof PermissionDeniedError);
  });

  const D = (globalThis as {
    Deno?: {
      readFileSync(p: string): Uint8Array;
      mkdirSync(p: string): void;
      readDirSync(p: string): Iterable<unknown>;
      removeSync(p: string): void;
    };
  }).Deno;
  it("Deno.errors.* map like errno errors", { skip: D ? false : "Deno only" }, () => {
    assert.ok(
      toStorageError(
        caught(() => D!.readFileSync(path.join(dir, "missing"))),
        "load",
        "/m",
      ) instanceof NotFoundError,
    );
    assert.ok(
      toStorageError(caught(() => D!.mkdirSync(path.join(dir, "full"))), "mkdir", "/m") instanceof
        AlreadyExistsError,
    );
    assert.ok(
      toStorageError(caught(() => D!.readFileSync(dir)), "load", "/m") instanceof IsADirectoryError,
    );
    assert.ok(
      toStorageError(caught(() => [...D!.readDirSync(file)]), "listDir", "/m") instanceof
        NotADirectoryError,
    );
    assert.ok(
      toStorageError(caught(() => D!.removeSync(path.join(dir, "full"))), "delete", "/m") instanceof
        DirectoryNotEmptyError,
    );
  });

  it("Deno-named errors without a code map by name", () => {
    const e = Object.assign(new Error("x"), { name: "NotFound" });
    assert.ok(toStorageError(e, "load", "/a") instanceof NotFoundError);
    const p = Object.assign(new Error("x"), { name: "NotCapable" });
    assert.ok(toStorageError(p, "load", "/a") instanceof PermissionDeniedError);
  });
});

describe("one error vocabulary", () => {
  const repo = path.join(path.dirname(new URL(import.meta.url).pathname), "..");

  /** Every source file outside tests/, bench/ and node_modules. */
  function sources(dir: string, out: string[] = []): string[] {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith(".") || ["node_modules", "tests", "bench"].includes(e.name)) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) sources(full, out);
      else if (e.name.endsWith(".ts")) out.push(full);
    }
    return out;
  }

  it("every code the source throws is a StorageErrorCode", () => {
    const seen = new Map<string, string>();
    const literal = /\bcode:\s*"([A-Za-z0-9_]+)"|errnoError\(\s*"([A-Z0-9_]+)"/g;
    for (const file of sources(repo)) {
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(literal)) {
        const code = m[1] ?? m[2]!;
        seen.set(code, path.relative(repo, file));
      }
      for (const m of text.matchAll(/\bcode:\s*`([^`]*)`/g)) {
        assert.match(
          m[1]!,
          /^(HTTP_\$\{[a-z.]+\}|S3_\$\{[^}]+\})$/,
          `${path.relative(repo, file)}: ${m[0]}`,
        );
      }
    }
    assert.ok(seen.size >= 20, `scan found only ${seen.size} codes`);
    const unknown = [...seen].filter(([code]) => !isStorageErrorCode(code));
    assert.deepEqual(unknown, [], "codes thrown but missing from STORAGE_ERROR_CODES");
    for (const gone of ["ERR_ZARR_METADATA", "ERR_INVALID_JSON", "ERR_UNSUPPORTED", "ENOTSUP"]) {
      assert.equal(seen.has(gone), false, `${gone} is still thrown (${seen.get(gone)})`);
    }
  });

  it("the README error table documents every code", () => {
    const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf("## Errors"), readme.indexOf("## Registry"));
    const missing = STORAGE_ERROR_CODES.filter((c) => !table.includes(`\`${c}\``));
    assert.deepEqual(missing, []);
    assert.ok(table.includes("`HTTP_<status>`"));
    assert.ok(table.includes("`S3_<Code>`"));
  });

  it("the code decides the class, also for errors built as plain StorageError", () => {
    const corrupt = new StorageError("load", "/a.json", "bad", { code: "ERR_CORRUPT_DATA" });
    assert.ok(corrupt instanceof CorruptDataError);
    assert.equal(corrupt.name, "CorruptDataError");
    assert.ok(new StorageError("load", "/a", "x", { code: "ENOENT" }) instanceof NotFoundError);
    assert.ok(
      new StorageError("save", "/a", "x", { code: "ERR_LOCK_LOST" }) instanceof LockLostError,
    );
    const plain = new StorageError("load", "/a", "x", { code: "EIO" });
    assert.equal(Object.getPrototypeOf(plain), StorageError.prototype);
  });

  it("runtime errno codes: ENOTSUP is UnsupportedOperationError, unknown ones EIO with the cause", () => {
    const notsup = Object.assign(new Error("nope"), { code: "ENOTSUP" });
    const e1 = toStorageError(notsup, "link", "/a");
    assert.ok(e1 instanceof UnsupportedOperationError);
    assert.equal(e1.code, "ERR_UNSUPPORTED_OPERATION");
    const odd = Object.assign(new Error("strange"), { code: "EWHATEVER" });
    const e2 = toStorageError(odd, "load", "/a");
    assert.equal(e2.code, "EIO");
    assert.equal(e2.cause, odd);
    const nospace = toStorageError(Object.assign(new Error("x"), { code: "ENOSPC" }), "save", "/a");
    assert.equal(nospace.code, "ENOSPC");
    assert.ok(isStorageErrorCode("HTTP_503"));
    assert.equal(isStorageErrorCode("ERR_ZARR_METADATA"), false);
  });
});
