// Repository-wide checks that CI enforces: formatting, lint, type checking of every module,
// script, test and benchmark (scripts and benchmarks are imported by no test), the public API's
// documentation lint, and the native library's
// dependencies (a `deno compile` binary embeds it, so it may need only libc, libm, libgcc_s and
// the dynamic loader).
import assert from "node:assert/strict";
import { libraryFileName } from "../lib/native/locate.ts";

const root = new URL("../", import.meta.url).pathname;

async function deno(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  })
    .output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

Deno.test("deno fmt --check and deno lint are clean", async () => {
  const fmt = await deno(["fmt", "--check"]);
  assert.equal(fmt.code, 0, fmt.text);
  const lint = await deno(["lint"]);
  assert.equal(lint.code, 0, lint.text);
});

Deno.test("deno check of every module, script, test and benchmark, and deno doc --lint mod.ts", async () => {
  const check = await deno(["check", "mod.ts", "lib/", "scripts/", "tests/", "bench/"]);
  assert.equal(check.code, 0, check.text.split("\n").slice(0, 60).join("\n"));
  const doc = await deno(["doc", "--lint", "mod.ts"]);
  assert.equal(doc.code, 0, doc.text.split("\n").slice(0, 60).join("\n"));
});

Deno.test("the cdylib needs only libc, libm, libgcc_s and the loader", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const lib = `${root}rust/target/release/${libraryFileName()}`;
  const bytes = await Deno.readFile(lib);
  // Read DT_NEEDED entries from the ELF dynamic section (64-bit little-endian).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getUint32(0), 0x7f454c46, "ELF magic");
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize;
    return {
      type: view.getUint32(o + 4, true),
      offset: Number(view.getBigUint64(o + 0x18, true)),
      size: Number(view.getBigUint64(o + 0x20, true)),
      link: view.getUint32(o + 0x28, true),
    };
  });
  const dynamic = sections.find((s) => s.type === 6); // SHT_DYNAMIC
  assert.ok(dynamic, "dynamic section");
  const strtab = sections[dynamic.link];
  const needed: string[] = [];
  for (let o = dynamic.offset; o < dynamic.offset + dynamic.size; o += 16) {
    const tag = view.getBigInt64(o, true);
    if (tag === 0n) break;
    if (tag === 1n) { // DT_NEEDED
      const start = strtab.offset + Number(view.getBigUint64(o + 8, true));
      const end = bytes.indexOf(0, start);
      needed.push(new TextDecoder().decode(bytes.subarray(start, end)));
    }
  }
  const allowed =
    /^(libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|libpthread\.so\.0|libdl\.so\.2)$/;
  assert.ok(needed.length > 0, "some libraries are needed");
  for (const n of needed) {
    assert.match(n, allowed, `unexpected dependency ${n} (all: ${needed.join(", ")})`);
  }
});
