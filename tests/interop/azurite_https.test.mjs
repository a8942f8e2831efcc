// TLS, as with real Azure: a private Azurite serving https on 127.0.0.1 with a throwaway
// certificate. An https-only SAS (spr=https, what EscrowAI requires) works end to end with the
// certificate trusted (--ca-file), and nothing is sent when the certificate is not trusted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escrow, startAzurite, DEV_ACCOUNT, DEV_KEY } from '../azure/azurite.mjs';

let az;
let work;
before(async () => {
  az = await startAzurite({ https: true });
  work = mkdtempSync(join(tmpdir(), 'escrow-https-'));
});
after(async () => {
  if (az) await az.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function sign(container, permissions) {
  const r = escrow(['sas', 'sign', '--account', DEV_ACCOUNT, '--key', DEV_KEY, '--container', container,
    '--permissions', permissions, '--expiry', '+3d', '--https-only', '--endpoint', az.endpoint]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('an https-only SAS works over TLS with the certificate trusted, and not without', async () => {
  // create the container with an account SAS (racwdl on containers and objects)
  const acct = escrow(['sas', 'sign', '--account', DEV_ACCOUNT, '--key', DEV_KEY, '--services', 'b',
    '--resource-types', 'sco', '--permissions', 'rwdlac', '--expiry', '+1d', '--https-only', '--endpoint', az.endpoint]);
  assert.equal(acct.status, 0, acct.stderr);
  const a = new URL(acct.stdout.trim());
  const mk = spawnCurl(['-sS', '--fail', '--cacert', az.caFile, '-X', 'PUT', '-H', 'Content-Length: 0',
    `${az.endpoint}/tls-data?restype=container&${a.searchParams}`]);
  assert.equal(mk.status, 0, mk.stderr);

  const url = sign('tls-data', 'racwl');
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/tls-data\?.*spr=https&/);
  // the judge: an https loopback URL passes with the emulator option, spr=https as required
  const chk = escrow(['sas', 'check', url, '--allow-loopback-http']);
  assert.equal(chk.json.status, 'valid', chk.stdout);

  const dir = join(work, 'enc');
  mkdirSync(dir);
  const data = randomBytes(6 * 1024 * 1024);
  Buffer.from([0x89, 0x42, 0x4b, 0x45, 0x4e, 0x43, 0x0d, 0x0a]).copy(data);
  writeFileSync(join(dir, 'd.bkenc'), data);
  // untrusted certificate: refused, nothing uploaded
  let r = escrow(['blob', 'put', dir, url]);
  assert.equal(r.status, 2, r.stdout);
  assert.match(r.stderr, /certificate|SSL/i);
  r = escrow(['blob', 'ls', url, '--ca-file', az.caFile]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.json.count, 0);
  // trusted: put (blocks and streamed), ls, get
  r = escrow(['blob', 'put', dir, url, '--ca-file', az.caFile, '--block-size-mib', '2']);
  assert.equal(r.status, 0, r.stderr);
  r = escrow(['blob', 'put', dir, url, '--ca-file', az.caFile, '--prefix', 'one/']);
  assert.equal(r.status, 0, r.stderr);
  r = escrow(['blob', 'ls', url, '--ca-file', az.caFile]);
  assert.deepEqual(r.json.blobs.map((b) => b.name), ['d.bkenc', 'one/d.bkenc']);
  for (const name of ['d.bkenc', 'one/d.bkenc']) {
    const out = join(work, name.replace('/', '_'));
    r = escrow(['blob', 'get', url, name, '-o', out, '--ca-file', az.caFile]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(out).equals(data), name);
  }
});

function spawnCurl(args) {
  return spawnSync('curl', ['--noproxy', '127.0.0.1', ...args], { encoding: 'utf8' });
}
