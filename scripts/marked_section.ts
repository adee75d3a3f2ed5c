/**
 * Marked sections of a results file: each benchmark script owns the text between
 * `<!-- NAME:start -->` and `<!-- NAME:end -->` in `bench/results.md` and rewrites only that.
 *
 * @module
 */

/**
 * Replaces the section `name` of `results` with `section` (or appends it when absent).
 *
 * @example
 * ```ts
 * import { withMarkedSection } from "./marked_section.ts";
 * const once = withMarkedSection("# Results\n", "x", "## A");
 * console.assert(withMarkedSection(once, "x", "## B") === once.replace("## A", "## B"));
 * ```
 */
export function withMarkedSection(results: string, name: string, section: string): string {
  const start = `<!-- ${name}:start -->`, end = `<!-- ${name}:end -->`;
  const block = `${start}\n${section.trim()}\n${end}`;
  const i = results.indexOf(start), j = results.indexOf(end);
  if (i >= 0 && j > i) return results.slice(0, i) + block + results.slice(j + end.length);
  return `${results.trimEnd()}\n\n${block}\n`;
}
