// Fault injection: a proxy between escrow and Azurite cuts connections in the middle of blobs,
// answers 500/503 and drops uploads. Downloads (plain and decrypting) and uploads must still
// finish byte-exact, resuming from the last byte received, with nothing duplicated.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escrow, escrowAsync, startAzurite, signUrl } from '../azure/azurite.mjs';
import { startFaultProxy } from '../azure/fault_proxy.mjs';

let az;
let work;
before(async () => {
  az = await startAzurite();
  work = mkdtempSync(join(tmpdir(), 'escrow-faults-'));
});
after(async () => {
  if (az) await az.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

// The same SAS URL, pointed at the proxy (the signature does not cover host or port).
const viaProxy = (url, proxy) => url.replace(`127.0.0.1:${az.port}`, `127.0.0.1:${proxy.port}`);
const FAST = ['--allow-loopback-http', '--retry-base-ms', '5'];

function rangeStart(r) {
  const m = /^bytes=(\d+)-/.exec(r || '');
  return m ? Number(m[1]) : 0;
}

test('a download cut five times and answered 500/503 resumes to the exact bytes', async () => {
  const container = az.service.getContainerClient('faults-get');
  await container.create();
  const data = randomBytes(5 * 1024 * 1024 + 321);
  await container.getBlockBlobClient('data.bin').uploadData(data);
  const cuts = [700000, 1, 1500000, 65536, 999999];
  const proxy = await startFaultProxy(az.port, (info) => {
    if (info.method !== 'GET' || !info.path.endsWith('/data.bin')) return { kind: 'pass' };
    const n = proxy.gets = (proxy.gets || 0) + 1;
    if (n <= cuts.length) return { kind: 'cut', after: cuts[n - 1] };
    if (n === cuts.length + 1) return { kind: 'status', code: 500 };
    if (n === cuts.length + 2) return { kind: 'status', code: 503 };
    return { kind: 'pass' };
  });
  try {
    const url = viaProxy(signUrl(az, 'faults-get', 'rl'), proxy);
    const out = join(work, 'data.bin');
    const r = await escrowAsync(['blob', 'get', url, 'data.bin', '-o', out, ...FAST]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(out).equals(data), 'the download is byte-exact');
    assert.equal(r.json.bytes, data.length, 'every byte was delivered once');
    assert.ok(r.json.transfer.retries >= 7, JSON.stringify(r.json.transfer));
    // each resumed request starts where the received bytes end
    const gets = proxy.log.filter((l) => l.method === 'GET');
    let expect = 0;
    for (let i = 0; i < gets.length; i++) {
      assert.equal(rangeStart(gets[i].range), expect, `request ${i} resumes at ${expect}`);
      if (i < cuts.length) expect += cuts[i];
    }
    // a byte range, cut again, and one that runs past the end of the blob
    proxy.gets = 0;
    const part = join(work, 'part.bin');
    let p = await escrowAsync(['blob', 'get', url, 'data.bin', '-o', part, '--offset', '1000000', '--length', '2500000', ...FAST]);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(readFileSync(part).equals(data.subarray(1000000, 3500000)));
    const tail = join(work, 'tail.bin');
    p = await escrowAsync(['blob', 'get', url, 'data.bin', '-o', tail, '--offset', String(data.length - 1000), '--length', '999999', ...FAST]);
    assert.equal(p.status, 0, p.stderr);
    assert.ok(readFileSync(tail).equals(data.subarray(data.length - 1000)));
    p = await escrowAsync(['blob', 'get', url, 'data.bin', '-o', join(work, 'none.bin'), '--offset', String(data.length + 5), ...FAST]);
    assert.equal(p.status, 2, p.stdout);
    assert.ok(!existsSync(join(work, 'none.bin')));
  } finally {
    await proxy.close();
  }
});

test('a decrypting download survives cuts and yields the exact plaintext', async () => {
  const container = az.service.getContainerClient('faults-dec');
  await container.create();
  const plainDir = join(work, 'dec-plain');
  mkdirSync(plainDir);
  const plain = randomBytes(3 * 1024 * 1024 + 77);
  writeFileSync(join(plainDir, 'x.bin'), plain);
  const cek = join(work, 'dec.key');
  assert.equal(escrow(['cek', 'generate', '-o', cek]).status, 0);
  const enc = join(work, 'x.bin.bkenc');
  let r = escrow(['encrypt', '--cek', cek, join(plainDir, 'x.bin'), '-o', enc]);
  assert.equal(r.status, 0, r.stderr);
  await container.getBlockBlobClient('x.bin.bkenc').uploadData(readFileSync(enc));
  let n = 0;
  const proxy = await startFaultProxy(az.port, (info) => {
    if (info.method !== 'GET') return { kind: 'pass' };
    n++;
    return n <= 3 ? { kind: 'cut', after: 100000 * n + 13 } : { kind: 'pass' };
  });
  try {
    const url = viaProxy(signUrl(az, 'faults-dec', 'rl'), proxy);
    const out = join(work, 'x.out');
    r = await escrowAsync(['blob', 'get', url, 'x.bin.bkenc', '-o', out, '--cek', cek, ...FAST]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(out).equals(plain));
    assert.ok(r.json.transfer.retries >= 3);
  } finally {
    await proxy.close();
  }
});

test('uploads finish exactly despite 500s and dropped blocks, with no duplicate blocks', async () => {
  const container = az.service.getContainerClient('faults-put');
  await container.create();
  const dir = join(work, 'put-src');
  mkdirSync(dir);
  const big = randomBytes(6 * 1024 * 1024 + 5);
  const small = randomBytes(1000);
  // make them look encrypted to `blob put`: a BKENC v1 magic at the front
  const magic = Buffer.from([0x89, 0x42, 0x4b, 0x45, 0x4e, 0x43, 0x0d, 0x0a]);
  magic.copy(big);
  magic.copy(small);
  writeFileSync(join(dir, 'big.bkenc'), big);
  writeFileSync(join(dir, 'small.bkenc'), small);
  const seen = new Map();
  const proxy = await startFaultProxy(az.port, (info) => {
    if (info.method !== 'PUT') return { kind: 'pass' };
    const key = `${info.path}|${info.query.get('comp')}|${info.query.get('blockid')}`;
    const k = (seen.get(key) || 0) + 1;
    seen.set(key, k);
    if (k > 1) return { kind: 'pass' };
    const comp = info.query.get('comp');
    if (comp === 'blocklist') return { kind: 'status', code: 503 };
    if (comp === 'block') {
      const id = Buffer.from(info.query.get('blockid'), 'base64').toString();
      const idx = Number(id.slice(-5));
      if (idx % 3 === 0) return { kind: 'status', code: 500 };
      if (idx % 3 === 1) return { kind: 'drop' };
      return { kind: 'pass' };
    }
    return { kind: 'status', code: 500 }; // the small file's Put Blob
  });
  try {
    const url = viaProxy(signUrl(az, 'faults-put', 'racwl'), proxy);
    const r = await escrowAsync(['blob', 'put', dir, url, '--block-size-mib', '1', '--parallel', '3', ...FAST]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.uploaded, 2);
    assert.ok(r.json.transfer.retries >= 6, JSON.stringify(r.json.transfer));
    const gotBig = await container.getBlobClient('big.bkenc').downloadToBuffer();
    assert.ok(gotBig.equals(big), 'the block blob is byte-exact');
    const gotSmall = await container.getBlobClient('small.bkenc').downloadToBuffer();
    assert.ok(gotSmall.equals(small));
    const bl = await container.getBlockBlobClient('big.bkenc').getBlockList('committed');
    assert.equal(bl.committedBlocks.length, 7);
    assert.equal(new Set(bl.committedBlocks.map((b) => b.name)).size, 7, 'no block twice');
    assert.equal(bl.committedBlocks.reduce((s, b) => s + b.size, 0), big.length);
  } finally {
    await proxy.close();
  }
});

test('a streamed Put Blob restarts cleanly after a 500 and a dropped upload', async () => {
  const container = az.service.getContainerClient('faults-stream');
  await container.create();
  const dir = join(work, 'stream-src');
  mkdirSync(dir);
  const data = randomBytes(7 * 1024 * 1024 + 9);
  Buffer.from([0x89, 0x42, 0x4b, 0x45, 0x4e, 0x43, 0x0d, 0x0a]).copy(data);
  writeFileSync(join(dir, 'one.bkenc'), data);
  let puts = 0;
  const proxy = await startFaultProxy(az.port, (info) => {
    if (info.method !== 'PUT' || info.query.get('comp')) return { kind: 'pass' };
    puts++;
    return puts === 1 ? { kind: 'status', code: 500 } : puts === 2 ? { kind: 'drop' } : { kind: 'pass' };
  });
  try {
    const url = viaProxy(signUrl(az, 'faults-stream', 'racwl'), proxy);
    const r = await escrowAsync(['blob', 'put', dir, url, ...FAST]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(puts, 3);
    const got = await container.getBlobClient('one.bkenc').downloadToBuffer();
    assert.ok(got.equals(data));
    const props = await container.getBlobClient('one.bkenc').getProperties();
    assert.equal(Buffer.from(props.contentMD5).toString('base64'), createHash('md5').update(data).digest('base64'));
  } finally {
    await proxy.close();
  }
});

test('a listing retries a failed page; a service that keeps failing gives up with a clear error', async () => {
  const container = az.service.getContainerClient('faults-ls');
  await container.create();
  await container.getBlockBlobClient('a.bkenc').upload('x', 1);
  let n = 0;
  const proxy = await startFaultProxy(az.port, () => (++n <= 2 ? { kind: 'status', code: 500 } : { kind: 'cut', after: 1 << 30 }));
  try {
    const url = viaProxy(signUrl(az, 'faults-ls', 'rl'), proxy);
    const r = await escrowAsync(['blob', 'ls', url, ...FAST]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.json.blobs.map((b) => b.name), ['a.bkenc']);
  } finally {
    await proxy.close();
  }
  const down = await startFaultProxy(az.port, () => ({ kind: 'status', code: 503 }));
  try {
    const url = viaProxy(signUrl(az, 'faults-ls', 'rl'), down);
    const out = join(work, 'never');
    mkdirSync(out);
    const r = await escrowAsync(['blob', 'get', url, 'a.bkenc', '-o', join(out, 'a.bkenc'), '--retries', '3', ...FAST]);
    assert.equal(r.status, 2, r.stdout);
    assert.match(r.stderr, /HTTP 503/);
    assert.doesNotMatch(r.stderr, /sig=/);
    assert.equal(down.log.length, 4, 'one try and three retries');
    assert.ok(!existsSync(join(out, 'a.bkenc')));
    assert.deepEqual(readdirSync(out), []);
  } finally {
    await down.close();
  }
});
