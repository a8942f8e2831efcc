// The in-browser encryption tool's library (web/src/lib, Web Crypto only) against libescrow:
// everything it writes is read back by the escrow command in the same test, the canonical
// BKENC vectors are reproduced byte for byte, and the dataset upload goes to a private Azurite
// on 127.0.0.1 through a container SAS URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { escrow, escrowOk, tempDir, loadLib, pattern, VECTORS } from './common.mjs';
import { startAzurite, signUrl } from '../../tests/azure/azurite.mjs';

let L;
before(async () => { L = await loadLib(); });

const KEYS = join(VECTORS, 'keys');
const hex = (b) => Buffer.from(b).toString('hex');

function write(path, bytes) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

async function blobBytes(blob) {
  return new Uint8Array(await blob.arrayBuffer());
}

function walk(dir, base = '') {
  const out = [];
  for (const e of readdirSync(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

test('a generated CEK is 32 random bytes named cek_<uuid>.key, and escrow encrypts with it', async (t) => {
  const dir = tempDir(t);
  const a = L.generateCek();
  const b = L.generateCek();
  assert.match(a.fileName, /^cek_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.key$/);
  assert.equal(a.cek.length, 32);
  assert.notEqual(hex(a.cek), hex(b.cek));
  assert.notEqual(a.fileName, b.fileName);
  write(join(dir, a.fileName), a.cek);
  write(join(dir, 'p.txt'), 'hello');
  escrowOk(['encrypt', '--cek', join(dir, a.fileName), join(dir, 'p.txt'), '-o', join(dir, 'p.txt.bkenc')]);
});

test('CEK files are read as libescrow reads them: 32 raw bytes or canonical base64, nothing else', () => {
  const raw = readFileSync(join(KEYS, 'cek.raw'));
  const b64 = readFileSync(join(KEYS, 'cek.b64'));
  assert.equal(hex(L.parseCek(raw)), hex(raw));
  assert.equal(hex(L.parseCek(b64)), hex(raw));
  const text = Buffer.from(raw).toString('base64');
  assert.equal(hex(L.parseCek(Buffer.from(`${text}\n`))), hex(raw));
  assert.throws(() => L.parseCek(Buffer.from(`${text}\n\n`)), L.KeyError, 'two newlines');
  assert.throws(() => L.parseCek(raw.subarray(0, 31)), L.KeyError, '31 bytes');
  assert.throws(() => L.parseCek(Buffer.concat([raw, Buffer.from([0])])), L.KeyError, '33 bytes');
  const noncanon = text.slice(0, 42) + String.fromCharCode(text.charCodeAt(42) + 1) + '=';
  assert.throws(() => L.parseCek(Buffer.from(noncanon)), L.KeyError, 'non-canonical base64');
});

test('the writer reproduces every canonical BKENC v1 vector byte for byte', async () => {
  const v = JSON.parse(readFileSync(join(VECTORS, 'bkenc', 'vectors.json'), 'utf8'));
  const names = { project_id: 'projectId', role: 'role', asset: 'asset', path: 'path', key_id: 'keyId' };
  let n = 0;
  for (const x of v.vectors.filter((y) => y.reproducible)) {
    const plain = new Uint8Array(x.plaintext_size);
    for (let i = 0; i < plain.length; i++) plain[i] = ((i % 251) + x.plaintext_seed) % 256;
    const context = {};
    for (const [k, val] of Object.entries(x.reproducible.context)) context[names[k]] = val;
    const { blob } = await L.encryptToBlob(Buffer.from(x.cek, 'hex'), plain, {
      salt: Buffer.from(x.reproducible.salt, 'hex'), log2cs: x.reproducible.log2cs, context });
    const want = readFileSync(join(VECTORS, 'bkenc', x.file));
    assert.equal(hex(await blobBytes(blob)), hex(want), `vector ${x.name}`);
    n++;
  }
  assert.ok(n >= 10, `only ${n} canonical vectors`);
});

test('files the browser encrypts decrypt with escrow at every chunk boundary, context intact', async (t) => {
  const dir = tempDir(t);
  const cek = readFileSync(join(KEYS, 'cek.raw'));
  for (const size of [0, 1, 65535, 65536, 65537, 3 * 65536 + 5]) {
    const plain = pattern(size, size);
    const { blob } = await L.encryptToBlob(cek, new Blob([plain]), {
      context: { projectId: 'proj-1', role: 'ds', path: `dir/été ${size}.csv` } });
    const enc = join(dir, `f${size}.bkenc`);
    write(enc, await blobBytes(blob));
    assert.equal(statSync(enc).size, L.ciphertextSize(size, 3 + 2 + 3 + 6 + 3 + Buffer.byteLength(`dir/été ${size}.csv`)));
    const info = escrowOk(['inspect', enc, '--cek', join(KEYS, 'cek.raw')]).json;
    assert.equal(info.verified, true);
    assert.equal(info.context.path, `dir/été ${size}.csv`);
    assert.equal(info.context.project_id, 'proj-1');
    assert.equal(info.plaintext_size, size);
    escrowOk(['decrypt', '--cek', join(KEYS, 'cek.raw'), enc, '-o', join(dir, `f${size}`), '--expect-path', `dir/été ${size}.csv`]);
    assert.equal(hex(readFileSync(join(dir, `f${size}`))), hex(plain), `size ${size}`);
  }
  // and a wrong key is refused by escrow (the test can fail)
  const { blob } = await L.encryptToBlob(L.generateCek().cek, pattern(10));
  write(join(dir, 'other.bkenc'), await blobBytes(blob));
  assert.equal(escrow(['decrypt', '--cek', join(KEYS, 'cek.raw'), join(dir, 'other.bkenc'), '-o', join(dir, 'other')]).status, 1);
});

test('the writer refuses unclean paths, a bad role and chunk sizes outside 2^14..2^24', async () => {
  const cek = new Uint8Array(32);
  for (const path of ['/abs', 'a/../b', 'a//b', './a', 'a\\b', 'a\u0001b', ''])
    await assert.rejects(L.encryptSource(cek, new Uint8Array(1), { context: { path } }), L.EncryptError, JSON.stringify(path));
  await assert.rejects(L.encryptSource(cek, new Uint8Array(1), { context: { role: 'admin' } }), L.EncryptError);
  await assert.rejects(L.encryptSource(cek, new Uint8Array(1), { log2cs: 13 }), L.EncryptError);
  await assert.rejects(L.encryptSource(cek, new Uint8Array(1), { log2cs: 25 }), L.EncryptError);
  await assert.rejects(L.encryptSource(new Uint8Array(31), new Uint8Array(1)), L.EncryptError);
});

test('WCEKs wrapped in the browser unwrap with escrow, from DER, PEM and base64 KEK files', async (t) => {
  const dir = tempDir(t);
  for (const file of ['kek4096.pub.der', 'kek4096.pub.pem', 'kek4096.pub.b64', 'kek4096.pub-pem-text.der']) {
    const kek = await L.importKek(readFileSync(join(KEYS, file)));
    assert.equal(kek.bits, 4096);
    const { cek } = L.generateCek();
    const { wcek, fileName } = await L.wrapCek(kek, cek);
    assert.match(fileName, /^wcek_[0-9a-f-]{36}\.key\.bkenc$/);
    assert.equal(wcek.length, 512);
    write(join(dir, fileName), wcek);
    escrowOk(['wcek', 'unwrap', '--private-key', join(KEYS, 'kek4096.key.pem'), '--wcek', join(dir, fileName),
      '--oaep', 'sha256', '-o', join(dir, `${file}.cek`)]);
    assert.equal(hex(readFileSync(join(dir, `${file}.cek`))), hex(cek), file);
  }
  // the key id is the SHA-256 of the SPKI, as libescrow names it
  const kek = await L.importKek(readFileSync(join(KEYS, 'kek4096.pub.der')));
  const spki = readFileSync(join(KEYS, 'kek4096.pub.der'));
  const digest = Buffer.from(await crypto.subtle.digest('SHA-256', spki)).toString('hex');
  assert.equal(kek.keyId, `sha256:${digest}`);
  // a WCEK for another KEK does not unwrap with this private key
  const other = await L.importKek(readFileSync(join(KEYS, 'other4096.pub.pem')));
  const w = await L.wrapCek(other, L.generateCek().cek);
  write(join(dir, 'other.wcek'), w.wcek);
  assert.notEqual(escrow(['wcek', 'unwrap', '--private-key', join(KEYS, 'kek4096.key.pem'), '--wcek', join(dir, 'other.wcek'), '-o', join(dir, 'x')]).status, 0);
});

test('KEK files that are too small, private or not keys are refused with a reason', async () => {
  await assert.rejects(L.importKek(readFileSync(join(KEYS, 'weak2048.pub.der'))), /2048 bits; keys under 3072 bits are refused/);
  await assert.rejects(L.importKek(readFileSync(join(KEYS, 'kek4096.key.pem'))), /private key/);
  await assert.rejects(L.importKek(readFileSync(join(KEYS, 'ec256.pub.pem'))), /RSA public key/);
  await assert.rejects(L.importKek(Buffer.from('hello world')), L.KeyError);
  const k3072 = await L.importKek(readFileSync(join(KEYS, 'kek3072.pub.pem')));
  assert.equal(k3072.bits, 3072);
});

function algorithmFiles() {
  return [
    { path: 'Dockerfile', data: new Blob(['FROM scratch\nCOPY . /app\nENTRYPOINT ["/bin/sh","run.sh"]\n']) },
    { path: 'run.sh', data: new Blob(['#!/bin/sh\nset -e\npython3 app.py\n']) },
    { path: 'app.py', data: new Blob(['print("secret algorithm")\n']) },
    { path: 'model/weights.bin', data: new Blob([pattern(200000, 9)]) },
    { path: 'requirements.txt', data: new Blob(['EnclaveSDK\n']) },
    { path: 'secrets.yaml', data: new Blob(['secretFiles: []\n']) },
  ];
}

test('the algorithm zip passes escrow algorithm check and its secrets decrypt to the originals', async (t) => {
  const dir = tempDir(t);
  const cek = readFileSync(join(KEYS, 'cek.raw'));
  const zip = await L.packAlgorithm(cek, algorithmFiles(), ['app.py', 'model/weights.bin'], { context: { projectId: 'p-9' } });
  const zipPath = join(dir, 'alg.zip');
  write(zipPath, await blobBytes(zip));
  const check = escrow(['algorithm', 'check', zipPath]);
  assert.equal(check.status, 0, `${check.stdout} ${check.stderr}`);
  const u = spawnSync('unzip', ['-q', zipPath, '-d', join(dir, 'x')], { encoding: 'utf8' });
  assert.equal(u.status, 0, u.stderr);
  assert.deepEqual(walk(join(dir, 'x')), ['Dockerfile', 'app.py.bkenc', 'model/weights.bin.bkenc', 'requirements.txt', 'run.sh', 'secrets.yaml']);
  const yaml = readFileSync(join(dir, 'x', 'secrets.yaml'), 'utf8');
  assert.match(yaml, /- \["app\.py\.bkenc", "app\.py"\]/);
  assert.match(yaml, /- \["model\/weights\.bin\.bkenc", "model\/weights\.bin"\]/);
  escrowOk(['decrypt', '--cek', join(KEYS, 'cek.raw'), join(dir, 'x', 'model', 'weights.bin.bkenc'), '-o', join(dir, 'w'), '--expect-path', 'model/weights.bin']);
  assert.equal(hex(readFileSync(join(dir, 'w'))), hex(pattern(200000, 9)));
  escrowOk(['decrypt', '--cek', join(KEYS, 'cek.raw'), join(dir, 'x', 'app.py.bkenc'), '-o', join(dir, 'a'), '--expect-path', 'app.py']);
  assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'print("secret algorithm")\n');
  assert.equal(escrowOk(['inspect', join(dir, 'x', 'app.py.bkenc')]).json.context.role, 'ao');
  // run.sh keeps its execute bit
  assert.ok(statSync(join(dir, 'x', 'run.sh')).mode & 0o100);
});

test('the algorithm tool refuses a missing Dockerfile, an encrypted Dockerfile or secrets.yaml, and no secret', async () => {
  const cek = new Uint8Array(32);
  const files = algorithmFiles();
  await assert.rejects(L.packAlgorithm(cek, files.filter((f) => f.path !== 'Dockerfile'), ['app.py']), /no Dockerfile/);
  await assert.rejects(L.packAlgorithm(cek, files, ['Dockerfile']), /Dockerfile must stay unencrypted/);
  await assert.rejects(L.packAlgorithm(cek, files, ['secrets.yaml']), /secrets\.yaml cannot be a secret/);
  await assert.rejects(L.packAlgorithm(cek, files, []), /at least one file/);
  await assert.rejects(L.packAlgorithm(cek, files, ['nope.py']), /not one of the chosen files/);
  await assert.rejects(L.packAlgorithm(cek, [...files, { path: 'app.py.bkenc', data: new Blob(['x']) }], ['app.py']), /already exists/);
  await assert.rejects(L.packAlgorithm(cek, [...files, { path: '../evil', data: new Blob(['x']) }], ['app.py']), /not a clean relative path/);
});

function datasetFiles() {
  return [
    { path: 'patients.csv', data: new Blob(['id,age\n1,40\n2,51\n']) },
    { path: 'images/0001.png', data: new Blob([pattern(70000, 1)]) },
    { path: 'images/0002.png', data: new Blob([pattern(5, 2)]) },
    { path: 'notes/été.txt', data: new Blob(['unicode name\n']) },
    { path: '.hidden', data: new Blob(['dot files are data too\n']) },
  ];
}

async function writeDataset(L, cek, dir, opts) {
  for await (const item of L.encryptDataset(cek, datasetFiles(), opts)) {
    const parts = [item.header];
    for await (const c of item.chunks()) parts.push(c);
    write(join(dir, item.name), Buffer.concat(parts));
  }
}

test('a dataset encrypted file by file decrypts with escrow, manifest checked', async (t) => {
  const dir = tempDir(t);
  const cek = readFileSync(join(KEYS, 'cek.raw'));
  await writeDataset(L, cek, join(dir, 'enc'), { datasetVersion: 'v1', context: { projectId: 'p-1' } });
  assert.deepEqual(walk(join(dir, 'enc')), ['.escrow-manifest.bkenc', '.hidden.bkenc', 'images/0001.png.bkenc',
    'images/0002.png.bkenc', 'notes/été.txt.bkenc', 'patients.csv.bkenc']);
  const r = escrowOk(['decrypt', '--cek', join(KEYS, 'cek.raw'), '--require-manifest', join(dir, 'enc'), '-o', join(dir, 'out')]);
  assert.equal(r.json.files, 5);
  for (const f of datasetFiles())
    assert.equal(hex(readFileSync(join(dir, 'out', f.path))), hex(await blobBytes(f.data)), f.path);
  // the manifest is real: a file removed from the folder is detected
  rmSync(join(dir, 'enc', 'images', '0002.png.bkenc'));
  const bad = escrow(['decrypt', '--cek', join(KEYS, 'cek.raw'), join(dir, 'enc'), '-o', join(dir, 'out2')]);
  assert.equal(bad.status, 1, bad.stderr);
});

test('the dataset tool refuses an empty dataset and the manifest\'s reserved name', async () => {
  const cek = new Uint8Array(32);
  const drain = async (files) => { for await (const _ of L.encryptDataset(cek, files)) { /* */ } };
  await assert.rejects(drain([]), /no files/);
  await assert.rejects(drain([{ path: '.escrow-manifest', data: new Blob(['x']) }]), /reserved/);
  await assert.rejects(drain([{ path: 'a', data: new Blob(['x']) }, { path: 'a', data: new Blob(['y']) }]), /chosen twice/);
});

test('the downloadable dataset zip unzips to a folder escrow decrypts', async (t) => {
  const dir = tempDir(t);
  const cek = readFileSync(join(KEYS, 'cek.raw'));
  const zip = await L.datasetZip(cek, datasetFiles(), { datasetVersion: 'v2' });
  write(join(dir, 'dataset.zip'), await blobBytes(zip));
  const u = spawnSync('unzip', ['-q', join(dir, 'dataset.zip'), '-d', join(dir, 'enc')], { encoding: 'utf8' });
  assert.equal(u.status, 0, u.stderr);
  escrowOk(['decrypt', '--cek', join(KEYS, 'cek.raw'), '--require-manifest', join(dir, 'enc'), '-o', join(dir, 'out')]);
  assert.equal(readFileSync(join(dir, 'out', 'patients.csv'), 'utf8'), 'id,age\n1,40\n2,51\n');
});

test('a dataset uploaded by SAS URL (Put Blob and Put Block) lands in the container and decrypts', async (t) => {
  const dir = tempDir(t);
  const az = await startAzurite();
  t.after(() => az.stop());
  const container = az.service.getContainerClient('upload');
  await container.create();
  const sas = signUrl(az, 'upload', 'rwlc');
  const cek = readFileSync(join(KEYS, 'cek.raw'));
  const big = pattern(9 * 1024 * 1024 + 123, 5); // three 4 MiB blocks
  const files = [...datasetFiles(), { path: 'big/scan.bin', data: new Blob([big]) }];
  const target = L.parseContainerSas(sas);
  let uploaded = 0;
  let total = 0;
  const names = [];
  for await (const item of L.encryptDataset(cek, files, { datasetVersion: 'v1' })) {
    total += item.size;
    async function* pieces() { yield item.header; yield* item.chunks(); }
    await L.uploadBlob(target, item.name, item.size, pieces(), (n) => { uploaded += n; });
    names.push(item.name);
  }
  assert.equal(uploaded, total, 'progress adds up to the bytes uploaded');
  const listed = [];
  for await (const b of container.listBlobsFlat()) listed.push(b.name);
  assert.deepEqual(listed.sort(), names.sort());
  const blocks = await container.getBlockBlobClient('big/scan.bin.bkenc').getBlockList('committed');
  assert.equal(blocks.committedBlocks.length, 3);
  // fetch every blob with the escrow command and decrypt the folder
  for (const n of names) {
    mkdirSync(dirname(join(dir, 'enc', n)), { recursive: true });
    escrowOk(['blob', 'get', sas, n, '-o', join(dir, 'enc', n), '--allow-loopback-http']);
  }
  escrowOk(['decrypt', '--cek', join(KEYS, 'cek.raw'), '--require-manifest', join(dir, 'enc'), '-o', join(dir, 'out')]);
  assert.equal(hex(readFileSync(join(dir, 'out', 'big', 'scan.bin'))), hex(big));
  // a read-only SAS cannot upload: a clear 403
  const ro = L.parseContainerSas(signUrl(az, 'upload', 'rl'));
  async function* one() { yield new Uint8Array(3); }
  await assert.rejects(L.uploadBlob(ro, 'x.bkenc', 3, one()), /HTTP 403.*does not allow writing/);
});
