/**
 * Encoding a simulated PAM as a families-as-rows TSV in one buffer: a header `family` then the
 * genome names, one row per family named `fam1 ..` (zero-padded to one width), cells `0`
 * (absent), `1` (present) or `?` (missing).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/**
 * The name of family `f` (0-based) among `nFamilies`: `fam` and `f + 1` zero-padded to the width
 * of `nFamilies`.
 *
 * @example
 * ```ts
 * import { simulatedFamilyName } from "./pam_tsv.ts";
 * console.assert(simulatedFamilyName(0, 250) === "fam001");
 * ```
 */
export function simulatedFamilyName(f: number, nFamilies: number): string {
  return `fam${String(f + 1).padStart(String(nFamilies).length, "0")}`;
}

/**
 * Encodes family-major cells (`states[f * names.length + i]`, 0, 1 or 2) as TSV bytes.
 *
 * @example
 * ```ts
 * import { encodePamTsv } from "./pam_tsv.ts";
 * const text = new TextDecoder().decode(encodePamTsv(["a", "b"], Uint8Array.of(0, 1, 2, 1), 2));
 * console.assert(text === "family\ta\tb\nfam1\t0\t1\nfam2\t?\t1\n");
 * ```
 */
export function encodePamTsv(
  genomeNames: readonly string[],
  states: Uint8Array,
  nFamilies: number,
): Uint8Array {
  const nTips = genomeNames.length;
  if (states.length !== nFamilies * nTips) {
    throw new RangeError(`PAM cells: ${states.length}, expected ${nFamilies} x ${nTips}.`);
  }
  for (const name of genomeNames) {
    if (/[\t\n\r]/.test(name)) {
      throw new GenecontentError(
        `Genome name ${JSON.stringify(name)} contains a tab or a line break, which a TSV ` +
          "cannot hold; rename the tip in the tree.",
      );
    }
  }
  const encoder = new TextEncoder();
  const header = encoder.encode(["family", ...genomeNames].join("\t") + "\n");
  const width = String(nFamilies).length;
  const rowBytes = 3 + width + 2 * nTips + 1;
  const out = new Uint8Array(header.length + nFamilies * rowBytes);
  out.set(header, 0);
  let p = header.length;
  const digits = new Uint8Array(width);
  const symbol = Uint8Array.of(48, 49, 63); // '0', '1', '?'
  for (let f = 0; f < nFamilies; f++) {
    out[p++] = 102; // 'f'
    out[p++] = 97; // 'a'
    out[p++] = 109; // 'm'
    let k = f + 1;
    for (let d = width - 1; d >= 0; d--) {
      digits[d] = 48 + (k % 10);
      k = Math.floor(k / 10);
    }
    out.set(digits, p);
    p += width;
    const off = f * nTips;
    for (let i = 0; i < nTips; i++) {
      out[p++] = 9;
      out[p++] = symbol[states[off + i]];
    }
    out[p++] = 10;
  }
  return out;
}
