/**
 * The toolkit's version, read from `deno.json` so there is one place to change it.
 *
 * @module
 */
import config from "../deno.json" with { type: "json" };

/**
 * The genecontent version string.
 *
 * @example
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.assert(/^\d+\.\d+\.\d+/.test(VERSION));
 * ```
 */
export const VERSION: string = config.version;
