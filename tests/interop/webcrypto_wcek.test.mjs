// WCEK interoperability with Web Crypto (the browser tool's primitives): RSA-OAEP with SHA-256
// and SHA-1, MGF1 with the same hash, empty label, SPKI public keys and PKCS#8 private keys.
//
// Runs `$ESCROW_BIN` (the escrow command, DESIGN §11). Skipped only when ESCROW_BIN is unset.
// Fixture keys come from $ESCROW_TEST_VECTORS/keys (default: tests/vectors beside this file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const { subtle } = globalThis.crypto;
const BIN = process.env.ESCROW_BIN;
const VECTORS = process.env.ESCROW_TEST_VECTORS
  ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');
const KEYS = join(VECTORS, 'keys');
const skip = BIN ? false : 'ESCROW_BIN is not set (the escrow command is needed)';

function run(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    assert.fail(`escrow ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  // DESIGN §11: one JSON document on stdout.
  return r.stdout.trim() ? JSON.parse(r.stdout) : null;
}

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-webcrypto-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function pemToDer(text) {
  const body = text.replace(/-----BEGIN [^-]+-----/, '').replace(/-----END [^-]+-----[\s\S]*/, '');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

// A KEK public file as Web Crypto wants it: DER SPKI (BeeKeeperAI's .der files may hold PEM).
function spkiBytes(path) {
  const data = readFileSync(path);
  return data.includes('-----BEGIN') ? pemToDer(data.toString('latin1')) : data;
}

const hashName = { sha256: 'SHA-256', sha1: 'SHA-1' };

async function importPublic(path, hash) {
  return subtle.importKey('spki', spkiBytes(path), { name: 'RSA-OAEP', hash: hashName[hash] },
    false, ['encrypt']);
}

async function wrapInNode(pubPath, hash, cek) {
  const key = await importPublic(pubPath, hash);
  return Buffer.from(await subtle.encrypt({ name: 'RSA-OAEP' }, key, cek));
}

function freshCek() {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32)));
}

function unwrapWithCli(dir, privPath, wcek, oaep, tag) {
  const w = join(dir, `wcek_${tag}.key.bkenc`);
  const out = join(dir, `cek_${tag}.key`);
  writeFileSync(w, wcek);
  const answer = run(['wcek', 'unwrap', '--private-key', privPath, '--wcek', w, '--oaep', oaep,
    '-o', out]);
  const got = readFileSync(out);
  assert.equal(got.length, 32, `${tag}: the unwrapped CEK file holds 32 raw bytes`);
  return { got, answer };
}

test('WCEKs wrapped by Web Crypto unwrap with escrow (SHA-256 and SHA-1, auto and explicit)',
  { skip }, async (t) => {
    const dir = tempDir(t);
    const pub = join(KEYS, 'kek4096.pub.der');
    const priv = join(KEYS, 'kek4096.key.pem');
    for (const hash of ['sha256', 'sha1']) {
      const cek = freshCek();
      writeFileSync(join(dir, `cek_${hash}.raw`), cek);
      const wcek = await wrapInNode(pub, hash, cek);
      assert.equal(wcek.length, 512);
      for (const oaep of ['auto', hash]) {
        const { got, answer } = unwrapWithCli(dir, priv, wcek, oaep, `${hash}-${oaep}`);
        assert.deepEqual(got, cek, `${hash} WCEK with --oaep ${oaep}`);
        if (answer && answer.oaep) assert.equal(answer.oaep, hash);
      }
      // The other explicit hash must refuse it (exit 1: input that fails authentication).
      const other = hash === 'sha256' ? 'sha1' : 'sha256';
      const w = join(dir, `wcek_${hash}.key.bkenc`);
      writeFileSync(w, wcek);
      const out = join(dir, `wrong_${hash}.key`);
      const r = spawnSync(BIN, ['wcek', 'unwrap', '--private-key', priv, '--wcek', w,
        '--oaep', other, '-o', out], { encoding: 'utf8' });
      assert.equal(r.status, 1, `--oaep ${other} on a ${hash} WCEK: ${r.stderr}`);
      assert.throws(() => statSync(out), 'no output file after a failed unwrap');
    }
  });

test('a KEK made by escrow kek generate imports into Web Crypto and round-trips', { skip },
  async (t) => {
    const dir = tempDir(t);
    run(['kek', 'generate', '--project', 'Interop Test', '--role', 'ao', '-o', dir]);
    const files = readdirSync(dir);
    const pubName = files.find((f) => /^Interop-Test[a-z0-9]{8}-ao\.der$/.test(f));
    const privName = files.find((f) => /^Interop-Test[a-z0-9]{8}-ao\.key\.pem$/.test(f));
    assert.ok(pubName, `public KEK file in ${files}`);
    assert.ok(privName, `private KEK file in ${files}`);
    assert.equal(pubName.replace(/\.der$/, ''), privName.replace(/\.key\.pem$/, ''));
    assert.equal(statSync(join(dir, privName)).mode & 0o777, 0o600);
    // The .der file is DER (SPKI), ready for Web Crypto as it is.
    const der = readFileSync(join(dir, pubName));
    assert.equal(der[0], 0x30, 'the .der file is binary DER');
    for (const hash of ['sha256', 'sha1']) {
      const cek = freshCek();
      const wcek = await wrapInNode(join(dir, pubName), hash, cek);
      const { got } = unwrapWithCli(dir, join(dir, privName), wcek, 'auto', `gen-${hash}`);
      assert.deepEqual(got, cek);
    }
  });

test('WCEKs wrapped by escrow unwrap in Web Crypto (RSA-OAEP SHA-256)', { skip }, async (t) => {
  const dir = tempDir(t);
  const cek = freshCek();
  const cekPath = join(dir, 'cek.key');
  writeFileSync(cekPath, cek);
  const privDer = pemToDer(readFileSync(join(KEYS, 'kek4096.key.pem'), 'latin1'));
  const key = await subtle.importKey('pkcs8', privDer, { name: 'RSA-OAEP', hash: 'SHA-256' },
    false, ['decrypt']);
  for (const kek of ['kek4096.pub.der', 'kek4096.pub.pem', 'kek4096.pub-pem-text.der']) {
    const w = join(dir, `wcek_${kek}.key.bkenc`);
    run(['wcek', 'wrap', '--kek', join(KEYS, kek), '--cek', cekPath, '-o', w]);
    const wcek = readFileSync(w);
    assert.equal(wcek.length, 512);
    const plain = Buffer.from(await subtle.decrypt({ name: 'RSA-OAEP' }, key, wcek));
    assert.deepEqual(plain, cek, `wrapped with ${kek}`);
  }
  // An explicit --oaep sha256 is the same thing; --oaep sha1 is not SHA-256.
  const w1 = join(dir, 'wcek_sha1.key.bkenc');
  run(['wcek', 'wrap', '--kek', join(KEYS, 'kek4096.pub.der'), '--cek', cekPath, '--oaep', 'sha1',
    '-o', w1]);
  await assert.rejects(subtle.decrypt({ name: 'RSA-OAEP' }, key, readFileSync(w1)));
  const key1 = await subtle.importKey('pkcs8', privDer, { name: 'RSA-OAEP', hash: 'SHA-1' },
    false, ['decrypt']);
  assert.deepEqual(Buffer.from(await subtle.decrypt({ name: 'RSA-OAEP' }, key1,
    readFileSync(w1))), cek);
});

test('Web Crypto reads the shared vectors: OpenSSL-made WCEKs unwrap to the fixture CEK',
  async () => {
    // Independent of the escrow command: checks vectors.json against a second implementation.
    const manifest = JSON.parse(readFileSync(join(KEYS, 'vectors.json'), 'utf8'));
    const privDer = pemToDer(readFileSync(join(KEYS, 'kek4096.key.pem'), 'latin1'));
    let checked = 0;
    for (const c of manifest.wcek_unwrap) {
      if (c.error || c.oaep === 'auto') continue;
      const key = await subtle.importKey('pkcs8', privDer,
        { name: 'RSA-OAEP', hash: hashName[c.oaep] }, false, ['decrypt']);
      const plain = Buffer.from(await subtle.decrypt({ name: 'RSA-OAEP' }, key,
        Buffer.from(c.wcek_b64, 'base64')));
      assert.equal(plain.toString('hex'), c.cek_hex, c.name);
      checked++;
    }
    assert.equal(checked, 2);
  });
