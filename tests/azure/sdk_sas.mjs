// Shared helpers for the SAS interop tests and the vector generator: sign with Microsoft's own
// SDK (@azure/storage-blob, offline: no request is made) from one neutral case description,
// the same description tests/vectors/sas/sign.json and `escrow sas sign` use.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));
let sdk;
try {
  sdk = require('@azure/storage-blob');
} catch (e) {
  throw new Error(`@azure/storage-blob is not installed in tests/azure: run tools/install-deps.sh (${e.message})`);
}
export { sdk };

export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

// Every Blob service version from 2015-04-05 to 2025-11-05.
export const VERSIONS = [
  '2015-04-05', '2015-07-08', '2015-12-11', '2016-05-31', '2017-04-17', '2017-07-29',
  '2017-11-09', '2018-03-28', '2018-11-09', '2019-02-02', '2019-07-07', '2019-10-10',
  '2019-12-12', '2020-02-10', '2020-04-08', '2020-06-12', '2020-08-04', '2020-10-02',
  '2020-12-06', '2021-02-12', '2021-04-10', '2021-06-08', '2021-08-06', '2021-10-04',
  '2021-12-02', '2022-11-02', '2023-01-03', '2023-05-03', '2023-08-03', '2023-11-03',
  '2024-02-04', '2024-05-04', '2024-08-04', '2024-11-04', '2025-01-05', '2025-05-05',
  '2025-07-05', '2025-11-05',
];

function ipRange(ip) {
  if (!ip) return undefined;
  const [start, end] = ip.split('-');
  return end ? { start, end } : { start };
}

// Sign a case with the SDK; returns the token's parameters as an object (decoded values).
export function sdkSign(c) {
  const cred = new sdk.StorageSharedKeyCredential(c.account, c.key);
  let q;
  if (c.kind === 'account') {
    q = sdk.generateAccountSASQueryParameters({
      version: c.version,
      permissions: sdk.AccountSASPermissions.parse(c.permissions),
      services: sdk.AccountSASServices.parse(c.services).toString(),
      resourceTypes: sdk.AccountSASResourceTypes.parse(c.resource_types).toString(),
      startsOn: c.start ? new Date(c.start) : undefined,
      expiresOn: new Date(c.expiry),
      ipRange: ipRange(c.ip),
      protocol: c.protocol,
      encryptionScope: c.encryption_scope,
    }, cred);
  } else {
    const isBlob = !!c.blob;
    q = sdk.generateBlobSASQueryParameters({
      version: c.version,
      containerName: c.container,
      blobName: c.blob,
      snapshotTime: c.resource === 'bs' ? c.snapshot : undefined,
      versionId: c.resource === 'bv' ? c.snapshot : undefined,
      permissions: c.permissions === undefined ? undefined
        : (isBlob ? sdk.BlobSASPermissions : sdk.ContainerSASPermissions).parse(c.permissions),
      identifier: c.identifier,
      startsOn: c.start ? new Date(c.start) : undefined,
      expiresOn: c.expiry ? new Date(c.expiry) : undefined,
      ipRange: ipRange(c.ip),
      protocol: c.protocol,
      cacheControl: c.rscc, contentDisposition: c.rscd, contentEncoding: c.rsce,
      contentLanguage: c.rscl, contentType: c.rsct,
      encryptionScope: c.encryption_scope,
    }, cred);
  }
  return Object.fromEntries(new URLSearchParams(q.toString()));
}
