/**
 * Bulk raw reads (issue 4): `DiskBackend.loadBatch(paths, { as: "bytes" })`
 * with the FFI reader and with the pure reader, the zero-copy mapping, and
 * the runtime's own `Deno.readFile` / `Bun.file().arrayBuffer()` +
 * `Promise.all`, against a C loop on the same files (bench/pread.c, compiled
 * with `cc` into a temp dir when a compiler is present).
 *
 * Sets: (A) 2000 × 64 KiB, (B) 64 × 8 MiB, warm page cache. Methods run
 * round-robin (one repetition of each in turn), so background load hits them
 * alike; each figure is the median.
 *
 * Two C baselines:
 * - `C pread, reused buffer`: open/fstat/pread/close into one preallocated
 *   buffer — issue 4's baseline (the targets are ratios to it);
 * - `C pread, fresh arena`: the same into a newly mapped arena holding every
 *   file, as any loader that returns all the bytes must (page faults included).
 *
 * Run: deno run -A bench/ffi.ts [--quick]   |   bun bench/ffi.ts [--quick]
 * Env: BENCH_REPS (default 9, --quick 3).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DiskBackend } from "../backends/disk.ts";
import {
  createBulkReader,
  NativeReader,
  type NativeReaderOptions,
  PureReader,
} from "../ffi/mod.ts";
import { runtime } from "../registry/runtime.ts";

const quick = process.argv.includes("--quick");
const REPS = Number(process.env.BENCH_REPS ?? (quick ? 3 : 9));
const here = nodePath.dirname(fileURLToPath(import.meta.url));
const rt = runtime();

type G = {
  Deno?: { readFile(p: string): Promise<Uint8Array> };
  Bun?: { file(p: string): { arrayBuffer(): Promise<ArrayBuffer> } };
};
const g = globalThis as G;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function writeSet(dir: string, count: number, size: number): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) data[i] = (i >> 12) & 0xff;
  return Array.from({ length: count }, (_, i) => {
    const p = nodePath.join(dir, `plane_${i}.raw`);
    data[0] = i & 0xff;
    fs.writeFileSync(p, data);
    return p;
  });
}

/** Compiles bench/pread.c; undefined (with a note) without a compiler. */
function compileC(tmp: string): string | undefined {
  const exe = nodePath.join(tmp, "pread");
  const r = spawnSync("cc", ["-O2", "-o", exe, nodePath.join(here, "pread.c")], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.log(`(no C baseline: cc ${r.error ? "not found" : `failed: ${r.stderr.trim()}`})`);
    return undefined;
  }
  return exe;
}

/** Runs the C loop once (REPS repetitions); medians of both variants. */
function runC(exe: string, paths: string[], tmp: string): { reused: number; fresh: number } {
  const list = nodePath.join(tmp, "list.txt");
  fs.writeFileSync(list, paths.join("\n") + "\n");
  const r = spawnSync(exe, [list, String(REPS + 1)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`C baseline failed with status ${r.status}`);
  const reused: number[] = [];
  const fresh: number[] = [];
  r.stdout.trim().split("\n").slice(2).forEach((line) => {
    const [kind, ms] = line.split(" ");
    (kind === "reused" ? reused : fresh).push(Number(ms));
  });
  return { reused: median(reused), fresh: median(fresh) };
}

type Method = { label: string; run: () => Promise<number> };

async function bench(methods: Method[], expectBytes: number): Promise<Map<string, number>> {
  for (const m of methods) {
    const bytes = await m.run(); // warm-up, and a correctness check
    if (bytes !== expectBytes) {
      throw new Error(`${m.label}: read ${bytes} bytes, want ${expectBytes}`);
    }
  }
  const times = new Map<string, number[]>(methods.map((m) => [m.label, []]));
  for (let r = 0; r < REPS; r++) {
    for (const m of methods) {
      const t0 = performance.now();
      await m.run();
      times.get(m.label)!.push(performance.now() - t0);
    }
  }
  return new Map([...times].map(([k, v]) => [k, median(v)]));
}

const sum = (xs: ArrayLike<{ byteLength: number }>) => {
  let n = 0;
  for (let i = 0; i < xs.length; i++) n += xs[i]!.byteLength;
  return n;
};

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), "hcs-bench-ffi-"));
  try {
    const choice = await createBulkReader(rt);
    const ffi = choice.reader instanceof NativeReader ? choice.reader : undefined;
    console.log(
      `runtime: ${rt.name} ${rt.version}; reader: ${choice.implementation}${
        choice.reason ? ` (${choice.reason})` : ""
      }; ${os.cpus().length} CPUs; median of ${REPS}`,
    );
    const exe = compileC(tmp);
    const sets: Array<[string, number, number]> = [
      ["A: 2000 × 64 KiB", 2000, 64 << 10],
      ["B: 64 × 8 MiB", 64, 8 << 20],
    ];
    for (const [name, count, size] of sets) {
      const paths = writeSet(nodePath.join(tmp, name[0]!), count, size);
      const total = count * size;
      const methods: Method[] = [];
      if (ffi) {
        const disk = new DiskBackend({ reader: ffi });
        methods.push({
          label: "FFI loadBatch",
          run: async () => sum(await disk.loadBatch<Uint8Array>(paths, { as: "bytes" })),
        });
        // Variants, to show what each choice buys.
        const variants: Array<[string, NativeReaderOptions]> = [
          ["FFI loadBatch, prefaulted arena", { prefault: true }],
        ];
        if (rt.name === "deno") {
          variants.push(["FFI loadBatch, parallel reads", { parallel: true }]);
        }
        for (const [label, options] of variants) {
          const variant = new DiskBackend({ reader: (await createBulkReader(rt, options)).reader });
          methods.push({
            label,
            run: async () => sum(await variant.loadBatch<Uint8Array>(paths, { as: "bytes" })),
          });
        }
        methods.push({
          label: "FFI zero-copy (mmap)",
          run: async () => {
            const mapped = await ffi.mapFiles(paths, "loadBatch");
            let n = 0;
            for (let i = 0; i < mapped.length; i++) n += mapped.get(i).byteLength;
            mapped.release();
            return n;
          },
        });
      }
      const pureDisk = new DiskBackend({ reader: new PureReader() });
      methods.push({
        label: "pure loadBatch",
        run: async () => sum(await pureDisk.loadBatch<Uint8Array>(paths, { as: "bytes" })),
      });
      if (g.Deno) {
        const D = g.Deno;
        methods.push({
          label: "Deno.readFile + Promise.all",
          run: async () => sum(await Promise.all(paths.map((p) => D.readFile(p)))),
        });
      } else if (g.Bun) {
        const B = g.Bun;
        methods.push({
          label: "Bun.file().arrayBuffer + Promise.all",
          run: async () => sum(await Promise.all(paths.map((p) => B.file(p).arrayBuffer()))),
        });
      }
      const med = await bench(methods, total);
      const c = exe ? runC(exe, paths, tmp) : undefined;
      console.log(`\n${name} (${(total / 2 ** 20).toFixed(0)} MiB)`);
      const rows: Array<[string, number]> = [];
      if (c) {
        rows.push(["C pread, reused buffer", c.reused], ["C pread, fresh arena", c.fresh]);
      }
      rows.push(...med);
      const runtimeBase = [...med].find(([k]) => k.includes("Promise.all"))?.[1];
      const w = Math.max(...rows.map(([k]) => k.length));
      for (const [label, ms] of rows) {
        const parts = [`${label.padEnd(w)}  ${ms.toFixed(1).padStart(8)} ms`];
        if (c) {
          parts.push(`${(ms / c.reused).toFixed(2)}× C`);
          parts.push(`${(ms / c.fresh).toFixed(2)}× C-fresh`);
        }
        if (runtimeBase !== undefined && !label.includes("Promise.all")) {
          parts.push(`${(runtimeBase / ms).toFixed(1)}× faster than Promise.all`);
        }
        console.log(parts.join("  "));
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
