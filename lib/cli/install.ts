/**
 * Installs the `genecontent` command with `deno install --global`: a small launcher in Deno's
 * bin folder (`~/.deno/bin`, or `--root DIR`'s `bin/`) that runs this checkout's
 * `lib/cli/main.ts` in the caller's folder, with exactly the permissions the command needs.
 *
 * Run it as `deno task install [--root DIR]` from a checkout. The launcher runs the module in
 * place, so the native library is found as in the checkout: `lib/native/` beside the module,
 * then `rust/target/release/` (build it with `deno task build:native`), or `GENECONTENT_LIB`.
 * The launcher calls `deno`; when no `deno` is on `PATH` (Deno run through `npx`), it is made
 * to call the Deno that runs this installer instead, by its absolute path.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/** Environment variables the command reads (library location and cache, the caller's folder). */
export const COMMAND_ENV = [
  "GENECONTENT_LIB",
  "GENECONTENT_CACHE",
  "GENECONTENT_CWD",
  "XDG_CACHE_HOME",
  "HOME",
  "USERPROFILE",
] as const;

/**
 * The permissions of the installed command: read any input, write any output, the variables
 * of {@linkcode COMMAND_ENV} only, and `dlopen` of the native library (which `GENECONTENT_LIB`
 * may place anywhere). No network, subprocess or system-information access; `--no-prompt`
 * makes a missing permission an error instead of an interactive question.
 */
export const COMMAND_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  `--allow-env=${COMMAND_ENV.join(",")}`,
  "--allow-ffi",
  "--no-prompt",
] as const;

/**
 * The `deno install` arguments that install `module` as `genecontent` (`extra` goes before
 * the module, e.g. `["--root", dir]`).
 *
 * @example
 * ```ts
 * import { installArgs } from "./install.ts";
 * const args = installArgs("file:///x/lib/cli/main.ts", ["--root", "/tmp/r"]);
 * console.assert(args[0] === "install" && args.at(-1) === "file:///x/lib/cli/main.ts");
 * ```
 */
export function installArgs(module: string, extra: readonly string[] = []): string[] {
  return [
    "install",
    "--global",
    "--force",
    "--name",
    "genecontent",
    "--no-config",
    ...COMMAND_PERMISSIONS,
    ...extra,
    module,
  ];
}

async function onPath(program: string, path: string | undefined): Promise<boolean> {
  for (const dir of (path ?? "").split(Deno.build.os === "windows" ? ";" : ":")) {
    if (!dir) continue;
    for (const name of Deno.build.os === "windows" ? [`${program}.exe`] : [program]) {
      try {
        const info = await Deno.stat(`${dir}/${name}`);
        if (info.isFile) return true;
      } catch {
        // not in this folder
      }
    }
  }
  return false;
}

/**
 * Installs the command; `args` are passed to `deno install` (only `--root DIR` is accepted).
 * Returns the launcher's path.
 *
 * @example
 * ```ts ignore
 * import { install } from "./install.ts";
 * console.log(await install(["--root", "/tmp/genecontent"]));
 * ```
 */
export async function install(args: readonly string[]): Promise<string> {
  let root: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--root" && i + 1 < args.length && args[i + 1] !== "") root = args[++i];
    else if (args[i].startsWith("--root=") && args[i].length > 7) root = args[i].slice(7);
    else {
      throw new GenecontentError(
        `Unknown install option '${args[i]}': the only option is --root DIR ` +
          "(default: Deno's install root, ~/.deno).",
      );
    }
  }
  const module = new URL("./main.ts", import.meta.url).href;
  const extra = root ? ["--root", root] : [];
  const out = await new Deno.Command(Deno.execPath(), {
    args: installArgs(module, extra),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new GenecontentError(`'deno install' failed (status ${out.code}).`);
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? "";
  const base = root ?? Deno.env.get("DENO_INSTALL_ROOT") ?? `${home}/.deno`;
  const launcher = `${base}/bin/genecontent${Deno.build.os === "windows" ? ".cmd" : ""}`;
  if (Deno.build.os !== "windows" && !(await onPath("deno", Deno.env.get("PATH")))) {
    const text = await Deno.readTextFile(launcher);
    const quoted = `'${Deno.execPath().replaceAll("'", `'\\''`)}'`;
    if (!text.includes("exec deno ")) {
      throw new GenecontentError(
        `The launcher '${launcher}' does not call 'deno' as expected; no 'deno' is on PATH, ` +
          `so add the folder of ${Deno.execPath()} to PATH.`,
      );
    }
    await Deno.writeTextFile(launcher, text.replace("exec deno ", `exec ${quoted} `));
    console.error(
      `genecontent: no 'deno' on PATH: the launcher calls ${Deno.execPath()} directly.`,
    );
  }
  return launcher;
}

if (import.meta.main) {
  try {
    const launcher = await install(Deno.args);
    console.error(`genecontent: installed ${launcher}; try 'genecontent --help'.`);
  } catch (e) {
    if (!(e instanceof GenecontentError)) throw e;
    console.error(`genecontent: error: ${e.message}`);
    Deno.exit(2);
  }
}
