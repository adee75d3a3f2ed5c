/**
 * Finding the native library, never assuming it: where `libgenecontent` comes from for each way
 * genecontent is used.
 *
 * In order:
 * 1. `GENECONTENT_LIB`, a path chosen by the user: when it is set, nothing else is tried (a
 *    library the user did not choose is never loaded in its place);
 * 2. for a local checkout or a `deno compile` binary (a `file:` module URL): the library next to
 *    this module (`lib/native/`), then the crate's build output `rust/target/release/` (a
 *    compiled binary embeds it there with `--include rust/target/release/libgenecontent.so`);
 * 3. for a URL import (an `http:`/`https:` module URL, which `dlopen` cannot load): the release
 *    file named in the release manifest beside this module, downloaded once into a cache folder
 *    and loaded only if its SHA-256 equals the manifest's.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import releaseManifest from "./release_manifest.json" with { type: "json" };

/** The release manifest: one verified library file per platform (`${os}-${arch}`). */
export interface ReleaseManifest {
  /** Toolkit version the files belong to. */
  readonly version: string;
  /** Files by platform key, relative to the manifest's folder. */
  readonly files: Readonly<Record<string, { readonly file: string; readonly sha256: string }>>;
}

/** How a candidate library was found. */
export type LibrarySource = "env" | "module" | "build" | "download";

/** A library file to try, in order. */
export interface LibraryCandidate {
  /** A local path or `file:` URL that `Deno.dlopen` accepts. */
  readonly path: string | URL;
  /** Where it came from. */
  readonly source: LibrarySource;
}

/** Options of {@linkcode locateNativeLibrary}; every field has a default, tests inject them. */
export interface LocateOptions {
  /** URL of this module (default `import.meta.url`). */
  readonly moduleUrl?: string;
  /** Environment lookup (default `Deno.env.get`, treating a missing permission as unset). */
  readonly env?: (name: string) => string | undefined;
  /** Release manifest (default `./release_manifest.json`). */
  readonly manifest?: ReleaseManifest;
  /** Cache folder for downloads (default `$GENECONTENT_CACHE`, `$XDG_CACHE_HOME/genecontent` or `~/.cache/genecontent`). */
  readonly cacheDir?: string;
  /** Fetch implementation (default the global `fetch`). */
  readonly fetch?: typeof fetch;
  /** Platform key (default `${Deno.build.os}-${Deno.build.arch}`). */
  readonly platform?: string;
}

/**
 * The file name of the library on an operating system.
 *
 * @example
 * ```ts
 * import { libraryFileName } from "./locate.ts";
 * console.assert(libraryFileName("linux") === "libgenecontent.so");
 * ```
 */
export function libraryFileName(os: string = Deno.build.os): string {
  if (os === "windows") return "genecontent.dll";
  if (os === "darwin") return "libgenecontent.dylib";
  return "libgenecontent.so";
}

function defaultEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: treated as unset
  }
}

/**
 * Lists the library files to try, in order, fetching and verifying a release file first when the
 * module was imported from a URL. A download that fails or does not match its SHA-256 is not
 * returned; the reason is in `problems`.
 *
 * @example
 * ```ts ignore
 * import { locateNativeLibrary } from "./locate.ts";
 * const { candidates, problems } = await locateNativeLibrary();
 * console.log(candidates.map((c) => String(c.path)), problems);
 * ```
 */
export async function locateNativeLibrary(
  options: LocateOptions = {},
): Promise<{ candidates: LibraryCandidate[]; problems: string[] }> {
  const env = options.env ?? defaultEnv;
  const moduleUrl = options.moduleUrl ?? import.meta.url;
  const platform = options.platform ?? `${Deno.build.os}-${Deno.build.arch}`;
  const os = platform.split("-")[0];
  const candidates: LibraryCandidate[] = [];
  const problems: string[] = [];
  const fromEnv = env("GENECONTENT_LIB");
  if (fromEnv) return { candidates: [{ path: fromEnv, source: "env" }], problems };
  const protocol = new URL(moduleUrl).protocol;
  if (protocol === "file:") {
    const name = libraryFileName(os);
    candidates.push({ path: new URL(`./${name}`, moduleUrl), source: "module" });
    candidates.push({
      path: new URL(`../../rust/target/release/${name}`, moduleUrl),
      source: "build",
    });
  } else if (protocol === "http:" || protocol === "https:") {
    try {
      const path = await downloadVerified(moduleUrl, platform, env, options);
      candidates.push({ path, source: "download" });
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
  } else {
    problems.push(
      `Module URL ${moduleUrl} is neither file: nor http(s):, so no library is looked for beside it.`,
    );
  }
  return { candidates, problems };
}

/**
 * SHA-256 of bytes as lowercase hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./locate.ts";
 * const h = await sha256Hex(new TextEncoder().encode("abc"));
 * console.assert(h.startsWith("ba7816bf"));
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function defaultCacheDir(env: (name: string) => string | undefined): string {
  const explicit = env("GENECONTENT_CACHE");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/genecontent`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    throw new GenecontentError(
      "No cache folder for the native library: set GENECONTENT_CACHE (or HOME) and allow env access.",
    );
  }
  return `${home}/.cache/genecontent`;
}

async function downloadVerified(
  moduleUrl: string,
  platform: string,
  env: (name: string) => string | undefined,
  options: LocateOptions,
): Promise<string> {
  const manifest = options.manifest ?? (releaseManifest as ReleaseManifest);
  const entry = manifest.files[platform];
  if (!entry) {
    throw new GenecontentError(
      `No verified native library is published for ${platform} in genecontent ${manifest.version}.`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(entry.sha256)) {
    throw new GenecontentError(`Release manifest entry for ${platform} has no valid SHA-256.`);
  }
  const cacheDir = options.cacheDir ?? defaultCacheDir(env);
  const folder = `${cacheDir}/${entry.sha256}`;
  const target = `${folder}/${libraryFileName(platform.split("-")[0])}`;
  try {
    const existing = await Deno.readFile(target);
    if (await sha256Hex(existing) === entry.sha256) return target;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const url = new URL(entry.file, new URL("./", moduleUrl));
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(url);
  if (!response.ok) {
    await response.body?.cancel();
    throw new GenecontentError(`Downloading ${url} failed: HTTP ${response.status}.`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const got = await sha256Hex(bytes);
  if (got !== entry.sha256) {
    throw new GenecontentError(
      `Downloaded ${url} has SHA-256 ${got}, but the release manifest says ${entry.sha256}; ` +
        "it was not loaded.",
    );
  }
  await Deno.mkdir(folder, { recursive: true });
  const temp = `${target}.${crypto.randomUUID()}.part`;
  await Deno.writeFile(temp, bytes);
  await Deno.rename(temp, target);
  return target;
}
