// BKENC v1 interoperability between the `escrow` command (libescrow) and a writer/reader that
// uses only Web Crypto (bkenc-webcrypto.mjs): what the browser tool relies on.
//
//   ESCROW_BIN=build/tools/escrow/escrow ESCROW_TEST_VECTORS=tests/vectors \
//     node --test tests/interop/webcrypto_bkenc.test.mjs
//
// The vector checks need only ESCROW_TEST_VECTORS (default: ../vectors beside this file); the
// command checks are skipped when ESCROW_BIN is unset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as bkenc from './bkenc-webcrypto.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const VECTORS = process.env.ESCROW_TEST_VECTORS || join(here, '..', 'vectors');
const BIN = process.env.ESCROW_BIN;
const noBin = BIN ? false : 'ESCROW_BIN is not set';

// 1 MiB + 1 spans several of the command's read blocks, so the encryptor holds back a chunk
// between updates.
const SIZES = [0, 1, 65535, 65536, 65537, 200000, 1048577];
const CONTEXT = {
  project_id: 'proj-webcrypto',
  role: 'ds',
  asset: 'dataset-1@v1',
  path: 'images/scan 01.png',
  key_id: 'sha256:' + '0f'.repeat(32),
};

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const fromHex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const u8 = (b) => new Uint8Array(b.buffer, b.byteOffset, b.length);

function scratch(t) {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-webcrypto-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cek = u8(randomBytes(32));
  const cekPath = join(dir, 'cek.key');
  writeFileSync(cekPath, cek);
  return { dir, cek, cekPath };
}

function escrow(...args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r;
}

function mustSucceed(r, what) {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\n${r.stderr}`);
}

// ---- the shared vectors (tests/vectors/bkenc), no command needed -----------------------------

const manifestPath = join(VECTORS, 'bkenc', 'vectors.json');
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : null;
const noVectors = manifest ? false : `${manifestPath} is missing`;

function vectorPlaintext(v) {
  // The generator's rule (vectors.json "plaintext"): byte i = (i % 251 + seed) % 256.
  const p = new Uint8Array(v.plaintext_size);
  for (let i = 0; i < p.length; i++) p[i] = ((i % 251) + v.plaintext_seed) % 256;
  return p;
}

function vectorOptions(v) {
  const o = v.options ?? {};
  return {
    expectPath: o.expect_path,
    expectHdrtag: o.expect_hdrtag ? fromHex(o.expect_hdrtag) : undefined,
  };
}

test('Web Crypto decrypts every positive BKENC vector to its plaintext', { skip: noVectors }, async () => {
  const positives = manifest.vectors.filter((v) => v.expect === 'ok');
  assert.ok(positives.length >= 10, 'too few positive vectors');
  for (const v of positives) {
    const file = u8(readFileSync(join(VECTORS, 'bkenc', v.file)));
    const pt = await bkenc.decrypt(fromHex(v.cek), file, vectorOptions(v));
    assert.equal(pt.length, v.plaintext_size, v.name);
    assert.equal(sha256(pt), v.plaintext_sha256, v.name);
  }
});

test('Web Crypto writes the reproducible vectors byte for byte', { skip: noVectors }, async () => {
  const repro = manifest.vectors.filter((v) => v.expect === 'ok' && v.reproducible);
  assert.ok(repro.length >= 5, 'too few reproducible vectors');
  for (const v of repro) {
    const want = u8(readFileSync(join(VECTORS, 'bkenc', v.file)));
    const r = v.reproducible;
    const got = await bkenc.encrypt(fromHex(v.cek), vectorPlaintext(v), {
      log2cs: r.log2cs,
      context: r.context,
      salt: fromHex(r.salt),
    });
    assert.equal(Buffer.compare(Buffer.from(got), Buffer.from(want)), 0, `${v.name} differs`);
  }
});

test('Web Crypto refuses every negative BKENC vector with the same error code', { skip: noVectors }, async () => {
  const negatives = manifest.vectors.filter((v) => v.expect !== 'ok');
  assert.ok(negatives.length >= 20, 'too few negative vectors');
  for (const v of negatives) {
    const file = u8(readFileSync(join(VECTORS, 'bkenc', v.file)));
    await assert.rejects(bkenc.decrypt(fromHex(v.cek), file, vectorOptions(v)), (e) => {
      assert.equal(e.code, v.expect, `${v.name}: ${e.message}`);
      return true;
    });
  }
});

// ---- JS writes, escrow reads ------------------------------------------------------------------

for (const log2cs of [16, 14]) {
  for (const withContext of [false, true]) {
    const label = `log2cs ${log2cs}${withContext ? ', with context' : ''}`;
    test(`escrow decrypts files written with Web Crypto (${label})`, { skip: noBin }, async (t) => {
      const { dir, cek, cekPath } = scratch(t);
      for (const size of SIZES) {
        const pt = u8(randomBytes(size));
        const enc = await bkenc.encrypt(cek, pt, {
          log2cs,
          context: withContext ? CONTEXT : {},
        });
        const expectChunks = size === 0 ? 1 : Math.ceil(size / 2 ** log2cs);
        const hdr = bkenc.parseHeader(enc);
        assert.equal(enc.length, hdr.length + size + 16 * expectChunks);
        const inPath = join(dir, `js-${size}.bkenc`);
        const outPath = join(dir, `js-${size}.out`);
        writeFileSync(inPath, enc);
        mustSucceed(escrow('decrypt', '--cek', cekPath, inPath, '-o', outPath), `size ${size}`);
        const back = readFileSync(outPath);
        assert.equal(back.length, size, `size ${size}`);
        assert.equal(sha256(back), sha256(pt), `size ${size}`);
      }
    });
  }
}

// ---- escrow writes, JS reads ------------------------------------------------------------------

test('Web Crypto decrypts files written by escrow encrypt', { skip: noBin }, async (t) => {
  const { dir, cek, cekPath } = scratch(t);
  for (const size of SIZES) {
    const pt = u8(randomBytes(size));
    const inPath = join(dir, `plain-${size}.bin`);
    const outPath = join(dir, `plain-${size}.bin.bkenc`);
    writeFileSync(inPath, pt);
    mustSucceed(escrow('encrypt', '--cek', cekPath, inPath, '-o', outPath), `size ${size}`);
    const enc = u8(readFileSync(outPath));
    const hdr = bkenc.parseHeader(enc);
    assert.equal(hdr.log2cs, 16, 'escrow writes 64 KiB chunks by default');
    const back = await bkenc.decrypt(cek, enc);
    assert.equal(back.length, size);
    assert.equal(sha256(back), sha256(pt), `size ${size}`);
    // The same file under another CEK is refused by the Web Crypto reader too.
    await assert.rejects(bkenc.decrypt(u8(randomBytes(32)), enc), { code: 'ESCROW_E_AUTH' });
  }
});

// ---- tampering --------------------------------------------------------------------------------

test('escrow refuses a tampered Web Crypto file with exit 1 and writes no output', { skip: noBin }, async (t) => {
  const { dir, cek, cekPath } = scratch(t);
  const pt = u8(randomBytes(150000)); // three 64 KiB chunks, the last one short
  const good = await bkenc.encrypt(cek, pt, { context: { path: 'a/b.csv' } });
  const hdrLen = bkenc.parseHeader(good).length;
  const flip = (at) => {
    const b = Uint8Array.from(good);
    b[at] ^= 0x01;
    return b;
  };
  const cases = {
    'salt byte': flip(12),
    'context byte': flip(46 + 3),
    'header tag byte': flip(hdrLen - 1),
    'first chunk byte': flip(hdrLen + 10),
    'second chunk tag byte': flip(hdrLen + 2 * (65536 + 16) - 1),
    'last byte': flip(good.length - 1),
    'final chunk cut off': good.subarray(0, hdrLen + 2 * (65536 + 16)),
    'one byte cut off': good.subarray(0, good.length - 1),
    'one byte appended': Uint8Array.from([...good, 0]),
    'chunks swapped': (() => {
      const b = Uint8Array.from(good);
      const c = 65536 + 16;
      b.set(good.subarray(hdrLen + c, hdrLen + 2 * c), hdrLen);
      b.set(good.subarray(hdrLen, hdrLen + c), hdrLen + c);
      return b;
    })(),
  };
  for (const [name, data] of Object.entries(cases)) {
    await assert.rejects(bkenc.decrypt(cek, data), `${name}: the JS reader must refuse it too`);
    const inPath = join(dir, 'bad.bkenc');
    const outPath = join(dir, 'bad.out');
    writeFileSync(inPath, data);
    const r = escrow('decrypt', '--cek', cekPath, inPath, '-o', outPath);
    assert.equal(r.status, 1, `${name}: expected exit 1, got ${r.status}\n${r.stderr}`);
    assert.ok(!existsSync(outPath), `${name}: an output file was left behind`);
  }
  // The untouched file still decrypts (the cases above failed for their alteration).
  const inPath = join(dir, 'good.bkenc');
  writeFileSync(inPath, good);
  mustSucceed(escrow('decrypt', '--cek', cekPath, inPath, '-o', join(dir, 'good.out')), 'good');
  assert.equal(sha256(readFileSync(join(dir, 'good.out'))), sha256(pt));
});
