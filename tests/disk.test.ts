import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as nodePath from "node:path";
import { conformance } from "./conformance.ts";
import { DiskBackend } from "../backends/disk.ts";

async function tempRoot(): Promise<string> {
  return await fsp.mkdtemp(nodePath.join(os.tmpdir(), "hcs-disk-"));
}

conformance("disk", async () => {
  const root = await tempRoot();
  return {
    backend: new DiskBackend(),
    root,
    teardown: () => fsp.rm(root, { recursive: true, force: true }),
  };
});
