// Helpers shared by the web tests: the escrow command, temporary folders, the library bundle.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

export const WEB = join(dirname(fileURLToPath(import.meta.url)), '..');
export const VECTORS = process.env.ESCROW_TEST_VECTORS ?? join(WEB, '..', 'tests', 'vectors');
export const OUT = process.env.ESCROW_WEB_TEST_OUT ?? join(WEB, '..', 'build', 'web', 'test-output');

export function escrowBin() {
  const bin = process.env.ESCROW_BIN;
  if (!bin || !existsSync(bin)) throw new Error(`ESCROW_BIN is not set to the built escrow command (got ${bin})`);
  return bin;
}

// Run the escrow command; {status, stdout, stderr, json}.
export function escrow(args, opts = {}) {
  const r = spawnSync(escrowBin(), args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120000, ...opts });
  if (r.error) throw r.error;
  let json;
  try { json = JSON.parse(r.stdout); } catch { json = undefined; }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

export function escrowOk(args) {
  const r = escrow(args);
  assert.equal(r.status, 0, `escrow ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

export function tempDir(t, prefix = 'escrow-web-') {
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(join(OUT, prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Bundle web/src/lib (TypeScript) into one ES module with esbuild and import it.
let lib;
export async function loadLib() {
  if (lib) return lib;
  const esbuild = join(WEB, 'node_modules', '.bin', 'esbuild');
  if (!existsSync(esbuild)) throw new Error('web/node_modules is missing: run tools/install-deps.sh (npm ci in web/)');
  mkdirSync(OUT, { recursive: true });
  const out = join(OUT, 'escrow-web-lib.mjs');
  const r = spawnSync(esbuild, [join(WEB, 'src', 'lib', 'index.ts'), '--bundle', '--format=esm',
    '--platform=neutral', '--target=es2022', `--outfile=${out}`, '--log-level=warning'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild failed: ${r.stderr}`);
  lib = await import(pathToFileURL(out).href);
  return lib;
}

// Deterministic test bytes.
export function pattern(n, seed = 0) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}
