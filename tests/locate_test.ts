// How the native library is found: environment variable first, then beside the module and in
// the crate's build output for local checkouts and compiled binaries, and for URL imports a
// download from beside the module, verified by SHA-256 against the release manifest, served
// here from 127.0.0.1.
import assert from "node:assert/strict";
import { libraryFileName, locateNativeLibrary, sha256Hex } from "../lib/native/locate.ts";
import { loadKernel } from "../lib/likelihood/choose_backend.ts";
import { ABI_VERSION } from "../lib/native/ffi.ts";

const builtLibrary = new URL(`../rust/target/release/${libraryFileName()}`, import.meta.url);

Deno.test("GENECONTENT_LIB, when set, is the only candidate", async () => {
  for (
    const moduleUrl of [
      "file:///opt/gc/lib/native/locate.ts",
      "https://example.invalid/lib/native/locate.ts",
    ]
  ) {
    const { candidates, problems } = await locateNativeLibrary({
      moduleUrl,
      env: (n) => (n === "GENECONTENT_LIB" ? "/custom/libgenecontent.so" : undefined),
      platform: "linux-x86_64",
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(candidates.map((c) => [String(c.path), c.source]), [[
      "/custom/libgenecontent.so",
      "env",
    ]]);
  }
});

Deno.test("file: module URL lists the library beside the module, then rust/target/release", async () => {
  const { candidates, problems } = await locateNativeLibrary({
    moduleUrl: "file:///opt/gc/lib/native/locate.ts",
    env: () => undefined,
    platform: "linux-x86_64",
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(candidates.map((c) => [String(c.path), c.source]), [
    ["file:///opt/gc/lib/native/libgenecontent.so", "module"],
    ["file:///opt/gc/rust/target/release/libgenecontent.so", "build"],
  ]);
});

Deno.test("a compiled binary's embedded library resolves inside its own folder tree", async () => {
  // `deno compile --include rust/target/release/libgenecontent.so` keeps the path relative to
  // the project, and import.meta.url points into the binary's virtual root.
  const { candidates } = await locateNativeLibrary({
    moduleUrl: "file:///tmp/deno-compile-genecontent/lib/native/locate.ts",
    env: () => undefined,
    platform: "linux-x86_64",
  });
  assert.equal(
    String(candidates.at(-1)!.path),
    "file:///tmp/deno-compile-genecontent/rust/target/release/libgenecontent.so",
  );
});

Deno.test("platform file names", () => {
  assert.equal(libraryFileName("linux"), "libgenecontent.so");
  assert.equal(libraryFileName("darwin"), "libgenecontent.dylib");
  assert.equal(libraryFileName("windows"), "genecontent.dll");
});

Deno.test("sha256Hex matches the FIPS 180-2 test vector for 'abc'", async () => {
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

/** Serves `files` (path -> bytes) on 127.0.0.1 and counts requests. */
function serve(files: Record<string, Uint8Array>) {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    const body = files[path];
    return body
      ? new Response(body as Uint8Array<ArrayBuffer>)
      : new Response("not found", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { server, base, hits };
}

Deno.test("URL import: downloads the release file, verifies SHA-256, caches it and loads it", async () => {
  const bytes = await Deno.readFile(builtLibrary);
  const sha256 = await sha256Hex(bytes);
  const { server, base, hits } = serve({
    "/gc/v1/lib/native/linux-x86_64/libgenecontent.so": bytes,
  });
  const cacheDir = await Deno.makeTempDir();
  try {
    const options = {
      moduleUrl: `${base}/gc/v1/lib/native/locate.ts`,
      env: () => undefined,
      cacheDir,
      platform: "linux-x86_64",
      manifest: {
        version: "test",
        files: { "linux-x86_64": { file: "linux-x86_64/libgenecontent.so", sha256 } },
      },
    };
    const first = await locateNativeLibrary(options);
    assert.deepEqual(first.problems, []);
    assert.equal(first.candidates.length, 1);
    assert.equal(first.candidates[0].source, "download");
    const cached = String(first.candidates[0].path);
    assert.equal(cached, `${cacheDir}/${sha256}/libgenecontent.so`);
    assert.equal(await sha256Hex(await Deno.readFile(cached)), sha256);
    assert.equal(hits.length, 1);
    // The cached copy is verified and reused without a second download.
    const second = await locateNativeLibrary(options);
    assert.equal(String(second.candidates[0].path), cached);
    assert.equal(hits.length, 1);
    // And it really loads.
    const { kernel } = await loadKernel(options);
    assert.ok(kernel);
    assert.equal(kernel.symbols.gc_abi_version(), ABI_VERSION);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("URL import: a file whose SHA-256 differs is refused and not cached", async () => {
  const { server, base } = serve({
    "/lib/native/lib.so": new TextEncoder().encode("not a library"),
  });
  const cacheDir = await Deno.makeTempDir();
  try {
    const wanted = "0".repeat(64);
    const { candidates, problems } = await locateNativeLibrary({
      moduleUrl: `${base}/lib/native/locate.ts`,
      env: () => undefined,
      cacheDir,
      platform: "linux-x86_64",
      manifest: { version: "t", files: { "linux-x86_64": { file: "lib.so", sha256: wanted } } },
    });
    assert.deepEqual(candidates, []);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /SHA-256 [0-9a-f]{64}, but the release manifest says 0{64}/);
    assert.deepEqual([...Deno.readDirSync(cacheDir)].map((e) => e.name), []);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("URL import: a tampered cached copy is replaced by a fresh verified download", async () => {
  const good = new TextEncoder().encode("pretend library bytes");
  const sha256 = await sha256Hex(good);
  const { server, base, hits } = serve({ "/lib/native/x.so": good });
  const cacheDir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${cacheDir}/${sha256}`, { recursive: true });
    await Deno.writeTextFile(`${cacheDir}/${sha256}/libgenecontent.so`, "tampered");
    const { candidates } = await locateNativeLibrary({
      moduleUrl: `${base}/lib/native/locate.ts`,
      env: () => undefined,
      cacheDir,
      platform: "linux-x86_64",
      manifest: { version: "t", files: { "linux-x86_64": { file: "x.so", sha256 } } },
    });
    assert.equal(hits.length, 1);
    assert.deepEqual(await Deno.readFile(String(candidates[0].path)), good);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("URL import: no manifest entry or an HTTP error is reported, not guessed", async () => {
  const none = await locateNativeLibrary({
    moduleUrl: "https://example.invalid/lib/native/locate.ts",
    env: () => undefined,
    cacheDir: "/nonexistent",
    platform: "linux-x86_64",
    manifest: { version: "9.9.9", files: {} },
  });
  assert.deepEqual(none.candidates, []);
  assert.match(
    none.problems[0],
    /No verified native library is published for linux-x86_64 in genecontent 9\.9\.9/,
  );
  const { server, base } = serve({});
  const cacheDir = await Deno.makeTempDir();
  try {
    const missing = await locateNativeLibrary({
      moduleUrl: `${base}/lib/native/locate.ts`,
      env: () => undefined,
      cacheDir,
      platform: "linux-x86_64",
      manifest: {
        version: "t",
        files: { "linux-x86_64": { file: "gone.so", sha256: "a".repeat(64) } },
      },
    });
    assert.deepEqual(missing.candidates, []);
    assert.match(missing.problems[0], /gone\.so failed: HTTP 404/);
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("GENECONTENT_LIB that cannot be loaded is named in the reasons", async () => {
  const { kernel, reasons } = await loadKernel({
    moduleUrl: "file:///nonexistent/lib/native/locate.ts",
    env: (n) => (n === "GENECONTENT_LIB" ? "/nonexistent/libgenecontent.so" : undefined),
  });
  assert.equal(kernel, null);
  assert.match(
    reasons.join(";"),
    /GENECONTENT_LIB=\/nonexistent\/libgenecontent\.so could not be loaded/,
  );
});
