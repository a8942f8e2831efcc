// Regenerate tests/vectors/sas/sign.json: signing vectors made with Microsoft's SDK
// (@azure/storage-blob, pinned in package.json), plus the reference vectors checked with
// openssl. Usage: node tests/azure/make_sas_vectors.mjs > tests/vectors/sas/sign.json
import { sdkSign, VERSIONS, DEV_ACCOUNT, DEV_KEY } from './sdk_sas.mjs';

const base = { account: DEV_ACCOUNT, key: DEV_KEY, start: '2024-01-01T00:00:00Z', expiry: '2099-12-31T23:59:59Z' };
const cases = [];
const add = (name, c) => {
  const full = { name, ...base, ...c };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  full.sig = sdkSign(full).sig;
  cases.push(full);
};

for (const v of VERSIONS) {
  add(`container rl https ${v}`, { kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: v });
  add(`account rwdlacup ${v}`, { kind: 'account', services: 'btqf', resource_types: 'sco', permissions: 'rwdlacup', protocol: 'https,http', ip: '0.0.0.0-255.255.255.255', version: v, start: '2022-04-16T06:31:48Z', expiry: '2022-04-17T06:31:48Z' });
  add(`blob r ${v}`, { kind: 'service', container: 'ds-q-a-demo', blob: 'data/hello world ü.txt', permissions: 'r', protocol: 'https,http', version: v });
  add(`container all headers ${v}`, { kind: 'service', container: 'ds-q-a-demo', permissions: 'racwdl', ip: '10.0.0.1-10.0.0.255', identifier: 'policy-1', rscc: 'no-cache', rscd: 'attachment; filename="x.csv"', rsce: 'gzip', rscl: 'en-US', rsct: 'text/csv', version: v });
}
add('container with encryption scope', { kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: '2021-12-02', encryption_scope: 'scope1' });
add('account with encryption scope', { kind: 'account', services: 'b', resource_types: 'co', permissions: 'rl', version: '2025-11-05', encryption_scope: 'scope1' });
add('snapshot', { kind: 'service', container: 'ds-q-a-demo', blob: 'a.bkenc', resource: 'bs', snapshot: '2024-05-01T10:00:00.1234567Z', permissions: 'r', version: '2021-12-02' });
add('version id', { kind: 'service', container: 'ds-q-a-demo', blob: 'a.bkenc', resource: 'bv', snapshot: '2024-05-01T10:00:00.1234567Z', permissions: 'rd', version: '2020-12-06' });
add('container all letters', { kind: 'service', container: 'ds-q-a-demo', permissions: 'racwdxltmeiyf', version: '2025-11-05' });
add('blob all letters', { kind: 'service', container: 'ds-q-a-demo', blob: 'x/y/z.csv', permissions: 'racwdxtmeiy', version: '2025-11-05' });
add('account all letters', { kind: 'account', services: 'b', resource_types: 'sco', permissions: 'rwdxftlacupiy', version: '2025-11-05' });
add('no start', { kind: 'service', container: 'abc', permissions: 'rl', protocol: 'https', version: '2021-12-02', start: undefined });
add('stored policy only', { kind: 'service', container: 'ds-q-a-demo', identifier: 'readers', version: '2021-12-02', start: undefined, expiry: undefined });

// Reference vectors (shared/reference azure-sas.md §8), recomputed there with openssl.
const reference = [
  { name: 'V1', kind: 'account', services: 'btqf', resource_types: 'sco', permissions: 'rwdlacup', start: '2022-04-16T06:31:48Z', expiry: '2022-04-17T06:31:48Z', ip: '0.0.0.0-255.255.255.255', protocol: 'https,http', version: '2016-05-31', sig: 'bTjnB+yT4DkYQcmMfpedew72/KdvTMuz29uatYuWYME=' },
  { name: 'V2', kind: 'account', services: 'btqf', resource_types: 'sco', permissions: 'rwdlacup', start: '2022-04-16T06:31:48Z', expiry: '2022-04-17T06:31:48Z', ip: '0.0.0.0-255.255.255.255', protocol: 'https,http', version: '2018-11-09', sig: 'zty6+wJgp86CuAlzq9w/+avVwjoEHgBOTXXmN7xAyio=' },
  { name: 'V3', kind: 'account', services: 'btqf', resource_types: 'sco', permissions: 'rwdlacup', start: '2022-04-16T06:31:48Z', expiry: '2022-04-17T06:31:48Z', ip: '0.0.0.0-255.255.255.255', protocol: 'https,http', version: '2020-12-06', sig: 'QB5jKCJTqn7jcPidkkXAazBQBL6VDMY7HumUIM78ROE=' },
  { name: 'V4', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https,http', version: '2021-12-02', sig: 'SOYbSH9RmxblhMImVRIwvAVX6t1xENFOp7CyPMpgQsE=',
    string_to_sign: 'rl\n2024-01-01T00:00:00Z\n2099-12-31T23:59:59Z\n/blob/devstoreaccount1/ds-q-a-demo\n\n\nhttps,http\n2021-12-02\nc\n\n\n\n\n\n\n' },
  { name: 'V5a', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: '2015-04-05', sig: '5+1RuPJFy0WjjnnP2aYiFjWcuwDfPdy23H1XXhX1CIE=' },
  { name: 'V5b', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: '2018-11-09', sig: 'czcddCedgCjQFBcRBazmm86LO28MaDnwxXNjPeNGniE=' },
  { name: 'V5c', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: '2020-12-06', sig: 'sQmxZJS3woOvlN+mfkAWY6GU9DRDBuByxCiYEweIJng=' },
  { name: 'V5d', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: '2021-12-02', sig: 'rOnxwrokznZXJDgc0oKhicHe92s4kFdQhXPiWe7buew=' },
  { name: 'V5e', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', version: '2025-11-05', sig: 'd0RiTIDNsFh71WEj2v45flFDxdZllUFffo0z97x7kmQ=' },
  { name: 'V6', kind: 'service', container: 'ds-q-a-demo', permissions: 'rl', protocol: 'https', ip: '10.0.0.1-10.0.0.255', rscd: 'attachment; filename="x.csv"', version: '2021-12-02', sig: 'qQb+QWuBjxKSam3WxeTXesUCbVbSJtm0qwTp5Se7xJ0=',
    string_to_sign: 'rl\n2024-01-01T00:00:00Z\n2099-12-31T23:59:59Z\n/blob/devstoreaccount1/ds-q-a-demo\n\n10.0.0.1-10.0.0.255\nhttps\n2021-12-02\nc\n\n\n\nattachment; filename="x.csv"\n\n\n' },
  { name: 'V7', kind: 'service', container: 'ds-q-a-demo', blob: 'data/hello world ü.txt', permissions: 'r', protocol: 'https,http', version: '2021-12-02', sig: 'gmDDalKzku6plyF+khZV/tpw1a8mlDc/Z7n0AOp9o3A=' },
  { name: 'V8', kind: 'service', container: 'ds-q-a-opensslv2', permissions: 'r', protocol: 'https', version: '2021-12-02', start: '2023-03-22T16:02:58Z', expiry: '2023-07-01T00:02:58Z', sig: 'JNdQsWNn5TsU62MnQ2e65f/xbhRdgvkVPufWGcQnWZQ=' },
];
for (const r of reference) {
  const c = { ...base, ...r, name: `reference ${r.name}` };
  const sdkSig = sdkSign(c).sig;
  if (sdkSig !== r.sig) throw new Error(`reference ${r.name}: SDK gives ${sdkSig}, reference says ${r.sig}`);
  cases.push(c);
}

process.stdout.write(JSON.stringify({
  description: 'SAS signing vectors: inputs and the expected sig (Base64, decoded). Made with @azure/storage-blob 12.32.0 (tests/azure/make_sas_vectors.mjs); the "reference" cases were also recomputed with openssl. Fields: kind service|account, account, key (Base64 account key), container, blob, resource (c|b|bs|bv), snapshot (snapshot time or version id), permissions, start, expiry, ip, protocol, version (sv), identifier (si), rscc..rsct, services (ss), resource_types (srt), encryption_scope (ses), optional string_to_sign.',
  cases,
}, null, 1) + '\n');
