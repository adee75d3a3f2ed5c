/**
 * Reading a 1,324-genome x 25,420-family 0/1 TSV (~67 MB) in both orientations.
 *
 * Run with `deno bench --allow-all bench/pam_read_bench.ts`.
 *
 * @module
 */

import { readPam } from "../lib/pam/read.ts";

const N_GENOMES = 1324;
const N_FAMILIES = 25420;

/** Writes a random 0/1 matrix (about 30% ones) with `rows` records of `cols` cells. */
function makeTsv(rowNames: string[], colNames: string[]): Uint8Array {
  const enc = new TextEncoder();
  const header = enc.encode("name\t" + colNames.join("\t") + "\n");
  const nameBytes = rowNames.map((x) => enc.encode(x));
  let size = header.length;
  for (const nb of nameBytes) size += nb.length + 2 * colNames.length + 1;
  const out = new Uint8Array(size);
  out.set(header, 0);
  let p = header.length;
  let state = 0x9e3779b9;
  for (const nb of nameBytes) {
    out.set(nb, p);
    p += nb.length;
    for (let c = 0; c < colNames.length; c++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[p++] = 9;
      out[p++] = (state >>> 0) % 10 < 3 ? 49 : 48;
    }
    out[p++] = 10;
  }
  return out;
}

const genomes = Array.from({ length: N_GENOMES }, (_, i) => `GCF_${String(i).padStart(9, "0")}.1`);
const families = Array.from({ length: N_FAMILIES }, (_, i) => `group_${i + 1}`);
const dir = await Deno.makeTempDir({ prefix: "pam_bench_" });
const rowsPath = `${dir}/families_as_rows.tsv`;
const colsPath = `${dir}/families_as_columns.tsv`;
await Deno.writeFile(rowsPath, makeTsv(families, genomes));
await Deno.writeFile(colsPath, makeTsv(genomes, families));
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.bench("read 1,324 x 25,420 0/1 TSV, families as rows (~67 MB)", async () => {
  const pam = await readPam(rowsPath, { taxa: genomes });
  if (pam.families.length !== N_FAMILIES) throw new Error("wrong family count");
});

Deno.bench("read 1,324 x 25,420 0/1 TSV, families as columns (~67 MB)", async () => {
  const pam = await readPam(colsPath, { taxa: genomes });
  if (pam.taxa.length !== N_GENOMES) throw new Error("wrong taxon count");
});
