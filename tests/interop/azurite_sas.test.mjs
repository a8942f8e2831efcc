// SAS URLs against Microsoft's own code: signatures from @azure/storage-blob's generators
// (offline) must equal `escrow sas sign`'s for every service version and many permission
// sets; SDK-made URLs must pass `escrow sas check` and `escrow sas verify`; a real Azurite
// (started here on 127.0.0.1, stopped by PID) must accept our signed URLs for list and get and
// refuse tampered ones with 403.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { escrow, startAzurite, signUrl, sdk, DEV_ACCOUNT, DEV_KEY } from '../azure/azurite.mjs';
import { sdkSign, VERSIONS } from '../azure/sdk_sas.mjs';

// A small deterministic PRNG (mulberry32) so the permission sets are the same every run.
function rng(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GATES = { x: '2019-10-10', y: '2019-10-10', t: '2019-12-12', m: '2020-02-10', e: '2020-02-10', i: '2020-08-04', f: '2021-04-10' };
const ACCOUNT_GATES = { x: '2019-10-10', y: '2019-10-10', t: '2019-12-12', f: '2019-12-12', i: '2020-08-04' };

function letters(all, version, gates, rand) {
  const ok = [...all].filter((c) => !gates[c] || version >= gates[c]);
  let pick = ok.filter(() => rand() < 0.5);
  if (pick.length === 0) pick = [ok[0]];
  // shuffle: escrow must accept any order and write the canonical one, like the SDK's parse()
  for (let i = pick.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [pick[i], pick[j]] = [pick[j], pick[i]]; }
  return pick.join('');
}

function escrowSign(c) {
  const args = ['sas', 'sign', '--account', c.account, '--key', c.key, '--version', c.version,
    '--permissions', c.permissions];
  if (c.expiry) args.push('--expiry', c.expiry);
  if (c.start) args.push('--start', c.start);
  if (c.kind === 'account') args.push('--services', c.services, '--resource-types', c.resource_types);
  else args.push('--container', c.container);
  if (c.blob) args.push('--blob', c.blob);
  if (c.protocol) args.push('--protocol', c.protocol);
  if (c.ip) args.push('--ip', c.ip);
  const r = escrow(args);
  assert.equal(r.status, 0, `escrow sas sign ${JSON.stringify(c)}: ${r.stderr}`);
  return new URL(r.stdout.trim());
}

test('escrow signs like the SDK for every service version and many permission sets', () => {
  const rand = rng(20241001);
  let n = 0;
  for (const version of VERSIONS) {
    for (let k = 0; k < 3; k++) {
      const cases = [
        { kind: 'service', container: 'ds-q-a-demo', permissions: letters('racwdxltmeiyf', version, GATES, rand) },
        { kind: 'service', container: 'data-set-7', blob: `dir/file ${k} ü.bkenc`, permissions: letters('racwdxtmeiy', version, GATES, rand) },
        { kind: 'account', services: letters('btqf', version, {}, rand), resource_types: letters('sco', version, {}, rand), permissions: letters('rwdxftlacupiy', version, ACCOUNT_GATES, rand) },
      ];
      for (const c0 of cases) {
        const c = { account: DEV_ACCOUNT, key: DEV_KEY, version, expiry: '2031-02-03T04:05:06Z',
          start: k === 1 ? undefined : '2024-05-06T07:08:09Z', protocol: k === 2 ? 'https' : 'https,http',
          ip: k === 0 ? '10.1.2.3-10.1.2.200' : undefined, ...c0 };
        const ours = escrowSign(c).searchParams;
        const theirs = sdkSign(c);
        assert.equal(ours.get('sig'), theirs.sig, `sig differs for ${JSON.stringify(c)}`);
        assert.equal(ours.get('sp'), theirs.sp, `sp differs for ${JSON.stringify(c)}`);
        n++;
      }
    }
  }
  assert.ok(n >= VERSIONS.length * 9);
});

test('URLs made by the SDK pass escrow sas check and escrow sas verify', () => {
  const base = 'https://datasteward.blob.core.windows.net';
  for (const version of ['2021-12-02', '2025-11-05', undefined /* the SDK's default, 2026-04-06 */]) {
    const q = sdk.generateBlobSASQueryParameters({
      containerName: 'ds-q-a-demo', permissions: sdk.ContainerSASPermissions.parse('rl'),
      startsOn: new Date('2024-01-01T00:00:00Z'), expiresOn: new Date('2099-01-01T00:00:00Z'),
      protocol: sdk.SASProtocol.Https, version,
    }, new sdk.StorageSharedKeyCredential('datasteward', DEV_KEY)).toString();
    const url = `${base}/ds-q-a-demo?${q}`;
    const c = escrow(['sas', 'check', url, '--now', '2024-06-01T00:00:00Z']);
    assert.equal(c.status, 0, c.stdout + c.stderr);
    assert.equal(c.json.status, 'valid');
    const v = escrow(['sas', 'verify', url, '--key', DEV_KEY]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.equal(v.json.valid, true);
    const w = escrow(['sas', 'verify', url, '--key', 'AAAA' + DEV_KEY.slice(4)]);
    assert.equal(w.status, 1);
    assert.equal(w.json.valid, false);
  }
  // the SDK's blob SAS and account SAS verify too
  const cred = new sdk.StorageSharedKeyCredential('datasteward', DEV_KEY);
  const bq = sdk.generateBlobSASQueryParameters({ containerName: 'ds', blobName: 'a b/c.csv',
    permissions: sdk.BlobSASPermissions.parse('r'), expiresOn: new Date('2099-01-01T00:00:00Z'), version: '2020-12-06' }, cred);
  let v = escrow(['sas', 'verify', `${base}/ds/a%20b/c.csv?${bq}`, '--key', DEV_KEY]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const aq = sdk.generateAccountSASQueryParameters({ permissions: sdk.AccountSASPermissions.parse('rl'),
    services: 'b', resourceTypes: 'sco', expiresOn: new Date('2099-01-01T00:00:00Z'), version: '2019-12-12' }, cred);
  v = escrow(['sas', 'verify', `${base}/?${aq}`, '--key', DEV_KEY]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.equal(v.json.kind, 'account');
  // but an account SAS is not a dataset URL
  const c = escrow(['sas', 'check', `${base}/ds?${aq}`]);
  assert.equal(c.status, 1);
  assert.equal(c.json.status, 'invalid');
});

let az;
before(async () => { az = await startAzurite(); });
after(async () => { if (az) await az.stop(); });

test('Azurite accepts escrow-signed URLs for list and get and refuses tampered ones', async () => {
  const container = az.service.getContainerClient('escrow-sas-test');
  await container.create();
  const body = 'id,value\n1,42\n';
  await container.getBlockBlobClient('data/sample.csv').upload(body, body.length);
  await container.getBlockBlobClient('data/hello world ü.txt').upload('hi', 2);

  for (const version of ['2015-04-05', '2018-11-09', '2020-12-06', '2025-11-05']) {
    const url = signUrl(az, 'escrow-sas-test', 'rl', ['--version', version]);
    const u = new URL(url);
    // our parser and judge accept it in emulator mode
    const chk = escrow(['sas', 'check', url, '--allow-loopback-http']);
    assert.equal(chk.json.status, 'valid', chk.stdout);
    const list = await fetch(`${u.origin}${u.pathname}?restype=container&comp=list&${u.searchParams}`);
    assert.equal(list.status, 200, `list with sv=${version}`);
    const xml = await list.text();
    assert.match(xml, /<Name>data\/sample\.csv<\/Name>/);
    const get = await fetch(`${u.origin}${u.pathname}/data/sample.csv?${u.searchParams}`);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), body);
    const get2 = await fetch(`${u.origin}${u.pathname}/data/hello%20world%20%C3%BC.txt?${u.searchParams}`);
    assert.equal(get2.status, 200);

    // tampering: signature, expiry, permissions, protocol
    const tampered = [
      (p) => p.set('sig', (p.get('sig')[0] === 'A' ? 'B' : 'A') + p.get('sig').slice(1)),
      (p) => p.set('se', '2099-01-01T00:00:00Z'),
      (p) => p.set('sp', 'rlw'),
      (p) => p.set('st', '2020-01-01T00:00:01Z'),
    ];
    for (const t of tampered) {
      const p = new URLSearchParams(u.searchParams);
      t(p);
      const r = await fetch(`${u.origin}${u.pathname}?restype=container&comp=list&${p}`);
      assert.equal(r.status, 403, `tampered URL accepted (sv=${version}): ${p}`);
      // and our verifier agrees
      const bad = `${u.origin}${u.pathname}?${p}`;
      const v = escrow(['sas', 'verify', bad, '--key', DEV_KEY]);
      assert.equal(v.status, 1, bad);
    }
    const good = escrow(['sas', 'verify', url, '--key', DEV_KEY]);
    assert.equal(good.status, 0, good.stderr);
  }

  // a read-only blob SAS from escrow works for that blob only
  const r = escrow(['sas', 'sign', '--account', DEV_ACCOUNT, '--key', DEV_KEY, '--container', 'escrow-sas-test',
    '--blob', 'data/hello world ü.txt', '--permissions', 'r', '--expiry', '+1d', '--endpoint', az.endpoint]);
  assert.equal(r.status, 0, r.stderr);
  const b = new URL(r.stdout.trim());
  assert.equal((await fetch(b)).status, 200);
  assert.equal((await fetch(`${b.origin}/${DEV_ACCOUNT}/escrow-sas-test/data/sample.csv?${b.searchParams}`)).status, 403);
  // an SDK-made URL lists through escrow blob ls
  const sdkq = sdk.generateBlobSASQueryParameters({ containerName: 'escrow-sas-test',
    permissions: sdk.ContainerSASPermissions.parse('rl'), expiresOn: new Date(Date.now() + 86400e3 * 3),
    protocol: sdk.SASProtocol.HttpsAndHttp, version: '2025-11-05' },
  new sdk.StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY)).toString();
  const ls = escrow(['blob', 'ls', `${az.endpoint}/escrow-sas-test?${sdkq}`, '--allow-loopback-http']);
  assert.equal(ls.status, 0, ls.stderr);
  assert.deepEqual(ls.json.blobs.map((x) => x.name), ['data/hello world ü.txt', 'data/sample.csv']);
  // and the same ls through a tampered URL fails with 403 (exit 1)
  const bad = escrow(['blob', 'ls', `${az.endpoint}/escrow-sas-test?${sdkq.replace('sp=rl', 'sp=rlw')}`, '--allow-loopback-http']);
  assert.equal(bad.status, 1, bad.stdout);
  assert.match(bad.stderr, /403/);
  assert.doesNotMatch(bad.stderr, /sig=/);
});
