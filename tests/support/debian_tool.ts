/**
 * Peer programs from Debian packages for the cross-check tests: found on PATH, or installed with
 * apt-get (saying so). Installs are serialised through a lock file, because tests run in
 * parallel and dpkg allows one install at a time. A failed install throws; nothing is skipped.
 *
 * @module
 */

async function onPath(name: string): Promise<string | null> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `command -v ${name}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const path = new TextDecoder().decode(out.stdout).trim();
  return out.success && path !== "" ? path : null;
}

async function firstOnPath(names: readonly string[]): Promise<string | null> {
  for (const name of names) {
    const p = await onPath(name);
    if (p) return p;
  }
  return null;
}

const cache = new Map<string, Promise<string>>();

/**
 * The path of the first of `binaries` on PATH, installing Debian package `pkg` if none is.
 *
 * @example
 * ```ts ignore
 * import { ensureDebianTool } from "./debian_tool.ts";
 * console.log(await ensureDebianTool(["iqtree2", "iqtree"], "iqtree", "the IQ-TREE peer check"));
 * ```
 */
export function ensureDebianTool(
  binaries: readonly string[],
  pkg: string,
  purpose: string,
): Promise<string> {
  const key = `${pkg}:${binaries.join(",")}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = install(binaries, pkg, purpose).catch((e) => {
      cache.delete(key);
      throw e;
    });
    cache.set(key, pending);
  }
  return pending;
}

async function install(binaries: readonly string[], pkg: string, purpose: string): Promise<string> {
  const found = await firstOnPath(binaries);
  if (found) return found;
  using lock = await Deno.open("/tmp/genecontent-apt.lock", { create: true, write: true });
  await lock.lock(true);
  const again = await firstOnPath(binaries); // another test may have installed it meanwhile
  if (again) return again;
  console.log(`installing Debian package ${pkg} for ${purpose}`);
  const apt = "apt-get -o DPkg::Lock::Timeout=300";
  const result = await new Deno.Command("sh", {
    args: ["-c", `${apt} install -y ${pkg} || (${apt} update && ${apt} install -y ${pkg})`],
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!result.success) {
    const tail = (b: Uint8Array) => new TextDecoder().decode(b).split("\n").slice(-15).join("\n");
    throw new Error(
      `Installing ${pkg} with 'apt-get install -y ${pkg}' failed (exit ${result.code}):\n` +
        `${tail(result.stdout)}\n${tail(result.stderr)}`,
    );
  }
  const path = await firstOnPath(binaries);
  if (!path) {
    throw new Error(
      `The Debian package ${pkg} was installed but ${binaries.join(" / ")} is not on PATH.`,
    );
  }
  return path;
}
