// The blob client against a real Azurite (private, 127.0.0.1, stopped by PID): escrow blob put
// uploads an encrypted dataset (Put Blob and parallel Put Block + Put Block List) that
// Microsoft's SDK reads back byte for byte with the right Content-MD5, a second put skips
// everything, ls follows List Blobs pages, get decrypts v1 and v0 while downloading.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, statSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { escrow, startAzurite, signUrl } from '../azure/azurite.mjs';

let az;
let work;
before(async () => {
  az = await startAzurite();
  work = mkdtempSync(join(tmpdir(), 'escrow-blob-test-'));
});
after(async () => {
  if (az) await az.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function walk(dir, base = dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, base));
    else out.push(relative(base, p));
  }
  return out;
}

const md5 = (b) => createHash('md5').update(b).digest('base64');

async function download(container, name) {
  return await container.getBlobClient(name).downloadToBuffer();
}

function makeDataset(name) {
  const plain = join(work, `${name}-plain`);
  mkdirSync(join(plain, 'sub'), { recursive: true });
  writeFileSync(join(plain, 'small.csv'), 'id,value\n1,42\n');
  writeFileSync(join(plain, 'sub', 'mid.bin'), randomBytes(3 * 1024 * 1024 + 5));
  writeFileSync(join(plain, 'big.bin'), randomBytes(9 * 1024 * 1024 + 123));
  const cek = join(work, `${name}-cek.key`);
  let r = escrow(['cek', 'generate', '-o', cek]);
  assert.equal(r.status, 0, r.stderr);
  const enc = join(work, `${name}-enc`);
  r = escrow(['encrypt', '--cek', cek, plain, '-o', enc]);
  assert.equal(r.status, 0, r.stderr);
  return { plain, enc, cek };
}

test('blob put uploads an encrypted dataset that the SDK reads back exactly, and skips it the second time', async () => {
  const container = az.service.getContainerClient('dataset');
  await container.create();
  const url = signUrl(az, 'dataset', 'racwl');
  const { enc } = makeDataset('put');
  const files = walk(enc);
  assert.ok(files.length >= 4, files.join(','));

  let r = escrow(['blob', 'put', enc, url, '--allow-loopback-http', '--block-size-mib', '1', '--parallel', '4']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.uploaded, files.length);
  assert.equal(r.json.skipped, 0);
  assert.doesNotMatch(r.stdout + r.stderr, /sig=/);

  const names = [];
  for await (const b of container.listBlobsFlat()) names.push(b.name);
  assert.deepEqual(names, files);
  for (const f of files) {
    const local = readFileSync(join(enc, f));
    const remote = await download(container, f);
    assert.ok(remote.equals(local), `${f} differs after upload`);
    const props = await container.getBlobClient(f).getProperties();
    assert.equal(Buffer.from(props.contentMD5).toString('base64'), md5(local), `${f}: Content-MD5`);
    if (local.length > 1024 * 1024) {
      const bl = await container.getBlockBlobClient(f).getBlockList('committed');
      assert.equal(bl.committedBlocks.length, Math.ceil(local.length / (1024 * 1024)), `${f}: block count`);
      assert.equal(new Set(bl.committedBlocks.map((x) => x.name)).size, bl.committedBlocks.length);
    }
  }

  r = escrow(['blob', 'put', enc, url, '--allow-loopback-http', '--block-size-mib', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.uploaded, 0);
  assert.equal(r.json.skipped, files.length);

  // a changed file (same size, other bytes) goes up again; the others are skipped
  const victim = files.find((f) => f.endsWith('small.csv.bkenc')) || files[0];
  const buf = readFileSync(join(enc, victim));
  buf[buf.length - 1] ^= 1;
  writeFileSync(join(enc, victim), buf);
  r = escrow(['blob', 'put', enc, url, '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.uploaded, 1);
  assert.ok((await download(container, victim)).equals(buf));

  // a prefix puts a second version beside the first, this time with the default sizes: files
  // over 4 MiB go up as one streamed Put Blob whose MD5 is set afterwards
  r = escrow(['blob', 'put', enc, url, '--allow-loopback-http', '--prefix', 'v2/']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.uploaded, files.length);
  for (const f of files) {
    const local = readFileSync(join(enc, f));
    assert.ok((await download(container, `v2/${f}`)).equals(local), `v2/${f} differs`);
    const props = await container.getBlobClient(`v2/${f}`).getProperties();
    assert.equal(Buffer.from(props.contentMD5).toString('base64'), md5(local), `v2/${f}: Content-MD5`);
  }
  r = escrow(['blob', 'put', enc, url, '--allow-loopback-http', '--prefix', 'v2/']);
  assert.equal(r.json.skipped, files.length);
});

test('blob put refuses plaintext and a SAS without write permission, uploading nothing', async () => {
  const container = az.service.getContainerClient('refusals');
  await container.create();
  const plain = join(work, 'plain-only');
  mkdirSync(plain, { recursive: true });
  writeFileSync(join(plain, 'patients.csv'), 'name,dob\nA,1970\n');
  let r = escrow(['blob', 'put', plain, signUrl(az, 'refusals', 'racwl'), '--allow-loopback-http']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not encrypted/);
  const { enc } = makeDataset('ro');
  r = escrow(['blob', 'put', enc, signUrl(az, 'refusals', 'rl'), '--allow-loopback-http']);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /403/);
  const names = [];
  for await (const b of container.listBlobsFlat()) names.push(b.name);
  assert.deepEqual(names, []);
  // a write-only SAS (no read: the skip-same check cannot look) still uploads, every time
  r = escrow(['blob', 'put', enc, signUrl(az, 'refusals', 'cw'), '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.skipped, 0);
  const uploaded = [];
  for await (const b of container.listBlobsFlat()) uploaded.push(b.name);
  assert.deepEqual(uploaded, walk(enc));
  for (const f of walk(enc)) assert.ok((await download(container, f)).equals(readFileSync(join(enc, f))));
  // http:// without --allow-loopback-http is refused before any request
  r = escrow(['blob', 'ls', signUrl(az, 'refusals', 'rl')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /loopback/);
});

test('blob ls follows List Blobs pages to the end', async () => {
  const container = az.service.getContainerClient('many');
  await container.create();
  const n = 1234;
  const want = [];
  for (let i = 0; i < n; i++) want.push(`part-${String(i).padStart(5, '0')}.bkenc`);
  for (let i = 0; i < n; i += 64) {
    await Promise.all(want.slice(i, i + 64).map((name) => container.getBlockBlobClient(name).upload('x', 1)));
  }
  const r = escrow(['blob', 'ls', signUrl(az, 'many', 'rl'), '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.count, n);
  assert.deepEqual(r.json.blobs.map((b) => b.name), want);
  assert.ok(r.json.transfer.requests >= 2, 'more than one page was read');
  const p = escrow(['blob', 'ls', signUrl(az, 'many', 'rl'), '--allow-loopback-http', '--prefix', 'part-0012']);
  assert.equal(p.json.count, 10);
});

test('blob get decrypts v1 and v0 blobs while downloading, and leaves nothing on failure', async () => {
  const container = az.service.getContainerClient('decrypt');
  await container.create();
  const url = signUrl(az, 'decrypt', 'racwl');
  const { plain, enc, cek } = makeDataset('get');
  let r = escrow(['blob', 'put', enc, url, '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  // v0 too
  const v0 = join(work, 'v0');
  mkdirSync(v0);
  r = escrow(['encrypt', '--cek', cek, '--format', 'v0', join(plain, 'small.csv'), '-o', join(v0, 'small.csv.bkenc')]);
  assert.equal(r.status, 0, r.stderr);
  r = escrow(['blob', 'put', v0, url, '--allow-loopback-http', '--prefix', 'legacy/']);
  assert.equal(r.status, 0, r.stderr);

  const out = join(work, 'out');
  mkdirSync(out);
  const big = walk(enc).find((f) => f.startsWith('big'));
  r = escrow(['blob', 'get', url, big, '-o', join(out, 'big.bin'), '--cek', cek, '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(out, 'big.bin')).equals(readFileSync(join(plain, 'big.bin'))));
  assert.equal(r.json.decrypted, true);

  r = escrow(['blob', 'get', url, 'legacy/small.csv.bkenc', '-o', out, '--cek', cek, '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(out, 'small.csv')).equals(readFileSync(join(plain, 'small.csv'))));

  // without a key: the ciphertext itself
  r = escrow(['blob', 'get', url, big, '-o', join(out, 'big.enc'), '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(out, 'big.enc')).equals(readFileSync(join(enc, big))));

  // a wrong key or a wrong path pin: exit 1, no output, nothing staged
  const other = join(work, 'other.key');
  assert.equal(escrow(['cek', 'generate', '-o', other]).status, 0);
  const before_ = readdirSync(out).sort();
  r = escrow(['blob', 'get', url, big, '-o', join(out, 'x.bin'), '--cek', other, '--allow-loopback-http']);
  assert.equal(r.status, 1, r.stderr);
  r = escrow(['blob', 'get', url, big, '-o', join(out, 'x.bin'), '--cek', cek, '--expect-path', 'nope.bin', '--allow-loopback-http']);
  assert.equal(r.status, 1, r.stderr);
  r = escrow(['blob', 'get', url, 'legacy/small.csv.bkenc', '-o', join(out, 'y.csv'), '--cek', other, '--allow-loopback-http']);
  assert.equal(r.status, 1, r.stderr);
  r = escrow(['blob', 'get', url, 'no-such-blob', '-o', join(out, 'z.bin'), '--allow-loopback-http']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /404/);
  assert.deepEqual(readdirSync(out).sort(), before_);
  assert.ok(!existsSync(join(out, 'x.bin')));
  assert.ok(statSync(join(out, 'big.bin')).size > 0);
});

test('an expired or not-yet-valid SAS is refused by Azurite and reported as such', async () => {
  const container = az.service.getContainerClient('times');
  await container.create();
  for (const extra of [['--expiry', '2021-01-01T00:00:00Z', '--start', '2020-01-01T00:00:00Z'],
    ['--start', '+1d', '--expiry', '+3d']]) {
    const s = escrow(['sas', 'sign', '--account', 'devstoreaccount1', '--key', 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
      '--container', 'times', '--permissions', 'rl', '--protocol', 'https,http', '--endpoint', az.endpoint, ...extra]);
    assert.equal(s.status, 0, s.stderr);
    const url = s.stdout.trim();
    const chk = escrow(['sas', 'check', url, '--allow-loopback-http']);
    assert.equal(chk.status, 1);
    assert.ok(['expired', 'not yet valid'].includes(chk.json.status), chk.stdout);
    const r = escrow(['blob', 'ls', url, '--allow-loopback-http']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /403/);
  }
});
