/**
 * The shared conformance suite (read and write halves) over the `s3`
 * backend against the real Ceph gateway, with object storage's flags: no
 * symlinks, listings from the store (`requiresFilesystemValidation` false).
 */
import { describe, it } from "node:test";
import { conformance } from "./conformance.ts";
import { bucketName, s3Backend, s3Skip } from "./_s3.ts";

if (s3Skip) {
  describe("conformance: s3", () => {
    it("runs against the Ceph gateway", { skip: s3Skip }, () => {});
  });
} else {
  conformance("s3", async () => {
    const backend = s3Backend();
    const root = `/${bucketName("conf")}/root`;
    await backend.ensureDirectory(root);
    return { backend, root, teardown: () => backend.deleteAll(root) };
  }, { symlinks: false, filesystemValidation: false });
}
