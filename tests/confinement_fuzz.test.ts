// Path-confinement properties (fast-check) for the virtual workspace and the
// FileManager's directory helpers: a recording backend (a real
// MemoryBackend behind a proxy) logs every path each call touches, and the
// property is that every one lies under the root the caller gave — for
// random path strings (`..`, `%2e`, `:`, `\`, NUL, Unicode, `//`) and for
// random, hostile names coming back from the backend itself.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MemoryBackend } from "../backends/memory.ts";
import { VirtualWorkspaceBackend } from "../backends/virtual_workspace.ts";
import { FileManager } from "../file_manager.ts";
import type { AnyBackend } from "../backends/base.ts";
import { StorageError } from "../errors.ts";
import { normalize } from "../_internal/paths.ts";

interface Call {
  method: string;
  paths: string[];
}

const WRITES = new Set([
  "save",
  "saveBatch",
  "delete",
  "deleteAll",
  "ensureDirectory",
  "createSymlink",
  "move",
  "copy",
]);

/** A MemoryBackend whose every call is logged with its string (or string[]) arguments. */
function recording(
  mem: MemoryBackend,
  log: Call[],
  override: Partial<Record<string, (...args: unknown[]) => unknown>> = {},
): AnyBackend {
  return new Proxy(mem, {
    get(target, prop, _receiver) {
      const value = Reflect.get(target, prop, target);
      if (typeof prop !== "string" || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const paths = args.flatMap((a) =>
          typeof a === "string"
            ? [a]
            : Array.isArray(a)
            ? a.filter((x) => typeof x === "string")
            : []
        );
        log.push({ method: prop, paths });
        const o = override[prop];
        return o ? o(...args) : (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as unknown as AnyBackend;
}

/** True when `p` (normalised) is `root` or below it. */
function under(root: string, p: string): boolean {
  const n = normalize(p);
  return n === root || n.startsWith(root === "/" ? "/" : `${root}/`);
}

const FRAGMENTS = [
  "..",
  ".",
  "/",
  "//",
  "\\",
  "%2e",
  "%2e%2e",
  "%2f",
  ":",
  "c:",
  "http:",
  "file:",
  "\0",
  "\n",
  "ü",
  "😀",
  "\u202e",
  "A01",
  "x.txt",
  "virtual_workspace.json",
];
const fragment = fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 3 }));
const pathTail = fc.array(fragment, { maxLength: 8 }).map((parts) => parts.join(""));

/** Swallows typed errors; anything else is a failure. */
async function typed<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof StorageError || err instanceof TypeError) return undefined;
    throw err;
  }
}

describe("confinement: virtual workspace", () => {
  const WS = "virtual_workspace.json";
  const sources = new Set(["/src/x.txt", "/ws/plate/raw/y.txt"]);

  async function setup(mappings: Record<string, unknown>) {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/ws/plate/raw");
    await mem.ensureDirectory("/src");
    await mem.save("X", "/src/x.txt");
    await mem.save("Y", "/ws/plate/raw/y.txt");
    await mem.save("SECRET", "/secret.txt");
    await mem.save(JSON.stringify({ version: 1, mappings }), `/ws/plate/${WS}`);
    const log: Call[] = [];
    const rec = recording(mem, log);
    const registry = { getBackend: <T extends AnyBackend>() => Promise.resolve(rec as T) };
    const vw = new VirtualWorkspaceBackend({ registry, metadataBackend: "rec" });
    return { vw, log };
  }

  it("random virtual paths read only workspace files above them and mapped sources", async () => {
    const hits = new Map<string, number>();
    const { vw, log } = await setup({
      "A01/x.txt": { backend: "rec", path: "/src/x.txt" },
      "A01/y.txt": { backend: "rec", path: "raw/y.txt" },
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/ws/plate/", "/ws/plate/A01/", "/ws/", "/"),
        // hostile fragments mixed with real names, so some calls succeed
        fc.array(
          fc.oneof(
            fragment,
            fc.constantFrom("A01/x.txt", "A01/y.txt", "x.txt", "A01", "/", "../plate/", "plate/"),
          ),
          { maxLength: 5 },
        ).map((parts) => parts.join("")),
        fc.constantFrom("load", "exists", "isDir", "listDir", "listFiles", "loadBatch", "resolve"),
        async (prefix, tail, op) => {
          const p = prefix + tail;
          log.length = 0;
          let out: unknown;
          if (op === "load") out = await typed(vw.load(p));
          else if (op === "exists") out = await typed(vw.exists(p));
          else if (op === "isDir") out = await typed(vw.isDir(p));
          else if (op === "listDir") out = await typed(vw.listDir(p));
          else if (op === "listFiles") out = await typed(vw.listFiles(p, { recursive: true }));
          else if (op === "loadBatch") out = await typed(vw.loadBatch([p]));
          else out = await typed(vw.resolve(p));
          const n = p.includes("\0") ? "" : normalize(p);
          for (const c of log) {
            assert.ok(!WRITES.has(c.method), `${JSON.stringify(p)}: ${c.method}`);
            for (const q of c.paths) {
              // a workspace file in a directory at or above the path asked for
              const nq = normalize(q);
              const wsDir = nq.slice(0, -WS.length - 1) || "/";
              const isWs = nq.endsWith(`/${WS}`) && n !== "" && under(wsDir, n);
              assert.ok(
                isWs || sources.has(q),
                `${op}(${JSON.stringify(p)}) touched ${JSON.stringify(q)} (${c.method})`,
              );
            }
          }
          if (out !== undefined && out !== false) hits.set(op, (hits.get(op) ?? 0) + 1);
          if (op === "listFiles" && Array.isArray(out)) {
            for (const f of out as string[]) assert.ok(under(n, f), `${f} not under ${n}`);
          }
        },
      ),
      {
        numRuns: 400,
        examples: [
          ["/ws/plate/", "A01/x.txt", "load"],
          ["/ws/plate/", "A01/../A01/y.txt", "loadBatch"],
          ["/ws/plate/", "", "listFiles"],
          ["/ws/plate/A01/", "x.txt", "resolve"],
          ["/ws/plate/", "../../secret.txt", "load"],
          ["/ws/plate/", "A01/..%2f..%2fsecret.txt", "load"],
        ],
      },
    );
    // the generator reaches real virtual files and directories, not only errors
    for (const op of ["load", "listFiles", "resolve"]) assert.ok((hits.get(op) ?? 0) > 0, op);
  });

  it("random mapping keys: a typed error, or every listed name is inside the plate", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pathTail, { minLength: 1, maxLength: 4 }), async (keys) => {
        const mappings = Object.fromEntries(
          keys.map((k) => [k, { backend: "rec", path: "/src/x.txt" }]),
        );
        const { vw, log } = await setup(mappings);
        const listed = await typed(vw.listFiles("/ws/plate", { recursive: true }));
        if (listed === undefined) return;
        for (const f of listed) {
          assert.ok(under("/ws/plate", f), `${JSON.stringify(keys)} listed ${JSON.stringify(f)}`);
          assert.ok(!f.split("/").includes(".."), f);
        }
        log.length = 0;
        await typed(vw.loadBatch(listed));
        for (const c of log) {
          for (const q of c.paths) {
            // the mapped source, or a workspace file inside the plate (looked up from a listed name)
            const nq = normalize(q);
            const ws = nq.endsWith(`/${WS}`) && under("/ws/plate", nq);
            assert.ok(q === "/src/x.txt" || ws, `${JSON.stringify(keys)}: ${JSON.stringify(q)}`);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("confinement: FileManager directory helpers", () => {
  /** A memory tree under /src with random names (those the memory backend accepts). */
  async function tree(names: string[][]) {
    const mem = new MemoryBackend();
    await mem.ensureDirectory("/src");
    await mem.ensureDirectory("/dst");
    await mem.save("SECRET", "/secret.txt");
    await mem.ensureDirectory("/etc");
    for (const parts of names) {
      const p = `/src/${parts.join("/")}`;
      if (normalize(p) !== p || !under("/src", p)) continue;
      try {
        await mem.ensureDirectory(p.slice(0, p.lastIndexOf("/")));
        await mem.save("f", p);
      } catch {
        // a name the memory backend refuses, or a file where a dir is wanted
      }
    }
    return mem;
  }
  const names = fc.array(
    fc.array(fragment.filter((s) => s !== "" && !s.includes("/")), {
      minLength: 1,
      maxLength: 3,
    }),
    { maxLength: 6 },
  );

  function check(log: Call[], label: string): void {
    for (const c of log) {
      const [first, second] = c.paths;
      if (c.method === "createSymlink") {
        assert.ok(under("/src", first!), `${label}: link target ${first}`);
        assert.ok(under("/dst", second!), `${label}: link path ${second}`);
      } else if (WRITES.has(c.method)) {
        for (const q of c.paths) assert.ok(under("/dst", q), `${label}: ${c.method} ${q}`);
      } else {
        for (const q of c.paths) {
          assert.ok(under("/src", q) || under("/dst", q), `${label}: ${c.method} ${q}`);
        }
      }
    }
  }

  it("random source trees: reads under /src, writes and links under /dst", async () => {
    let links = 0;
    await fc.assert(
      fc.asyncProperty(names, async (n) => {
        const mem = await tree(n);
        const log: Call[] = [];
        const rec = recording(mem, log);
        const fm = new FileManager({
          getBackend: <T extends AnyBackend>() => Promise.resolve(rec as T),
        });
        links += (await typed(fm.mirrorDirectoryWithSymlinks("/src", "/dst", "rec"))) ?? 0;
        await typed(fm.collectDirsAndFiles("/src", "rec"));
        await typed(fm.listImageFiles("/src", "rec"));
        await typed(fm.findFileRecursive("/src", "x.txt", "rec"));
        check(log, JSON.stringify(n));
      }),
      { numRuns: 150 },
    );
    assert.ok(links > 50, `only ${links} links made`);
  });

  it("hostile names from the backend's listings never move a write outside /dst", async () => {
    const hostile = fc.constantFrom(
      "/src/../etc/x.tif",
      "/src/a/../../../etc/y.tif",
      "/elsewhere/z.tif",
      "/src/..\\..\\w.tif",
      "/src/%2e%2e/v.tif",
    );
    const hostileName = fc.constantFrom(null, "..", "../up", "a/../../b", ".", "sub/../..");
    await fc.assert(
      fc.asyncProperty(hostile, hostileName, async (file, name) => {
        const mem = await tree([["ok.tif"], ["d", "in.tif"]]);
        const log: Call[] = [];
        const rec = recording(mem, log, {
          listFiles: async (...args: unknown[]) => [
            ...(await mem.listFiles(args[0] as string, args[1] as object)),
            file,
          ],
          listDir: async (...args: unknown[]) => [
            ...(await mem.listDir(args[0] as string)),
            ...(name === null ? [] : [name]),
          ],
        });
        const fm = new FileManager({
          getBackend: <T extends AnyBackend>() => Promise.resolve(rec as T),
        });
        await typed(fm.mirrorDirectoryWithSymlinks("/src", "/dst", "rec"));
        check(log, `${file} / ${name}`);
        assert.deepEqual(await mem.listDir("/etc"), [], "nothing was created outside /dst");
      }),
      { numRuns: 50 },
    );
  });
});
