// The installed `genecontent` command, as a user gets it: `deno task install --root DIR` from the
// checkout, then `genecontent fit` run from a folder outside the checkout on copied files. The
// output must land in that folder, the native library must be found from the installed command,
// and the launcher must carry exactly the command's permissions.
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { COMMAND_PERMISSIONS } from "../lib/cli/install.ts";

const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const config = `${repo}/deno.json`;
const decoder = new TextDecoder();

async function exec(
  program: string,
  args: string[],
  options: { cwd?: string; path: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(program, {
    args,
    cwd: options.cwd,
    // A bare environment: what a fresh shell has, without this test runner's variables.
    clearEnv: true,
    env: { PATH: options.path, HOME: Deno.env.get("HOME") ?? "/root", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** A folder outside the checkout with copies of the contract tree and PAM. */
async function userFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "genecontent_user_" });
  assert.ok(!dir.startsWith(repo));
  await Deno.copyFile(`${repo}/tests/data/contract/tree.nwk`, `${dir}/tree.nwk`);
  await Deno.copyFile(`${repo}/tests/data/contract/pam.tsv`, `${dir}/pam.tsv`);
  return dir;
}

/** The fit of the contract data run in place from the checkout, for comparison. */
async function fitInCheckout(): Promise<Record<string, unknown>> {
  const r = await exec(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-ffi",
    `${repo}/lib/cli/main.ts`,
    "fit",
    "--tree",
    `${repo}/tests/data/contract/tree.nwk`,
    "--pam",
    `${repo}/tests/data/contract/pam.tsv`,
    "--no-ci",
    "--json",
  ], { path: "/usr/bin:/bin" });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function checkInstalled(launcher: string, path: string): Promise<void> {
  const dir = await userFolder();
  const help = await exec(launcher, [], { cwd: dir, path });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^genecontent \d+\.\d+\.\d+: gene gain and loss/);

  const r = await exec(
    launcher,
    ["fit", "--tree", "tree.nwk", "--pam", "pam.tsv", "--no-ci", "--out", "fit.tsv", "--json"],
    { cwd: dir, path },
  );
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  // The native library is found from the installed command: the launcher runs the checkout's
  // module in place, so locate.ts finds rust/target/release/ relative to it.
  assert.equal(json.backend, "native", r.stderr);
  assert.equal(
    await Deno.realPath(new URL(json.provenance.nativeLibrary).pathname),
    await Deno.realPath(`${repo}/rust/target/release/libgenecontent.so`),
  );
  assert.doesNotMatch(r.stderr, /TypeScript backend|permission|prompt/i, "nothing fell back");
  // The output lands in the caller's folder, next to the copied inputs.
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names.sort(), ["fit.tsv", "fit.tsv.provenance.json", "pam.tsv", "tree.nwk"]);
  const tsv = (await Deno.readTextFile(`${dir}/fit.tsv`)).split("\n");
  assert.equal(tsv[0], "model\tparameter\testimate\tlower\tupper\tlevel\tunit");
  assert.equal(Number(tsv[1].split("\t")[2]), json.gain);
  assert.equal(json.provenance.inputs[1].path, `${await Deno.realPath(dir)}/pam.tsv`);
  // The same program on the same data: the same numbers as a run from the checkout.
  const reference = await fitInCheckout();
  assert.equal(json.gain, reference.gain);
  assert.equal(json.loss, reference.loss);
  assert.equal(json.logLik, reference.logLik);
}

for (const denoOnPath of [false, true]) {
  Deno.test(`deno task install, then genecontent fit outside the checkout (deno ${denoOnPath ? "on" : "not on"} PATH)`, async () => {
    const root = await Deno.makeTempDir({ prefix: "genecontent_root_" });
    let path = "/usr/bin:/bin";
    if (denoOnPath) {
      await Deno.mkdir(`${root}/denobin`);
      await Deno.symlink(Deno.execPath(), `${root}/denobin/deno`);
      path = `${root}/denobin:${path}`;
    }
    const installed = await exec(
      Deno.execPath(),
      ["task", "-q", "--config", config, "install", "--root", root],
      { cwd: await Deno.makeTempDir(), path },
    );
    assert.equal(installed.code, 0, installed.stderr);
    const launcher = `${root}/bin/genecontent`;
    const text = await Deno.readTextFile(launcher);
    const exec_ = text.split("\n").find((l) => l.startsWith("exec "))!;
    // Exactly the command's permissions, nothing broader.
    for (const flag of COMMAND_PERMISSIONS) assert.ok(exec_.includes(` ${flag} `), flag);
    const allows = exec_.match(/--allow-[a-z]+(=\S+)?/g)!.sort();
    assert.deepEqual(allows, COMMAND_PERMISSIONS.filter((f) => f.startsWith("--allow")).sort());
    assert.ok(exec_.includes(`'file://${repo}/lib/cli/main.ts'`), exec_);
    if (denoOnPath) assert.ok(exec_.startsWith("exec deno run "), exec_);
    else {
      assert.ok(exec_.startsWith(`exec '${Deno.execPath()}' run `), exec_);
      assert.match(installed.stderr, /no 'deno' on PATH: the launcher calls/);
    }
    await checkInstalled(launcher, path);
    assert.equal(dirname(launcher), `${root}/bin`);
  });
}

Deno.test("deno task install refuses options other than --root", async () => {
  const r = await exec(
    Deno.execPath(),
    ["task", "-q", "--config", config, "install", "--allow-all"],
    { path: "/usr/bin:/bin" },
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown install option '--allow-all': the only option is --root DIR/);
});
