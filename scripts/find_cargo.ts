/**
 * Where cargo is: on PATH, in $CARGO_HOME/bin, or in ~/.cargo/bin (rustup's default, which is not
 * always on PATH in non-interactive shells).
 *
 * @module
 */

/**
 * The path of the cargo executable, or `null` when Rust is not installed.
 *
 * @example
 * ```ts
 * import { findCargo } from "./find_cargo.ts";
 * console.log(findCargo() ?? "no cargo");
 * ```
 */
export function findCargo(): string | null {
  const home = Deno.env.get("HOME");
  const cargoHome = Deno.env.get("CARGO_HOME");
  const candidates = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((d) => `${d}/cargo`),
    ...(cargoHome ? [`${cargoHome}/bin/cargo`] : []),
    ...(home ? [`${home}/.cargo/bin/cargo`] : []),
  ];
  for (const c of candidates) {
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch {
      // not here
    }
  }
  return null;
}
