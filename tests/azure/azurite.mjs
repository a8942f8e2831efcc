// Start and stop a private Azurite blob service for a test: on 127.0.0.1 only, on a free port,
// stopped by its own PID. Nothing here talks to any other address. If Node packages or Azurite
// are missing, or Azurite does not come up, start() throws with a message saying what to do:
// the tests fail, they never skip silently.
import { spawn, spawnSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { existsSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sdk, DEV_ACCOUNT, DEV_KEY } from './sdk_sas.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const AZURITE_BIN = join(here, 'node_modules', '.bin', 'azurite-blob');
export { sdk, DEV_ACCOUNT, DEV_KEY };

export function escrowBin() {
  const bin = process.env.ESCROW_BIN;
  if (!bin || !existsSync(bin)) throw new Error(`ESCROW_BIN is not set to the built escrow command (got ${bin})`);
  return bin;
}

// Run the escrow command; returns {status, stdout, stderr, json}.
export function escrow(args, opts = {}) {
  const r = spawnSync(escrowBin(), args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120000, ...opts });
  if (r.error) throw r.error;
  let json;
  try { json = JSON.parse(r.stdout); } catch { json = undefined; }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port }, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Start Azurite. options.onDisk: keep blobs in a temporary folder instead of memory.
export async function startAzurite(options = {}) {
  if (!existsSync(AZURITE_BIN)) {
    throw new Error(`Azurite is not installed (${AZURITE_BIN} missing): run tools/install-deps.sh, which runs npm ci in tests/azure`);
  }
  const port = await freePort();
  const work = mkdtempSync(join(tmpdir(), 'escrow-azurite-'));
  const args = ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--disableTelemetry',
    '--silent', '--skipApiVersionCheck', '--debug', join(work, 'debug.log')];
  let caFile;
  if (options.https) {
    // a throwaway self-signed certificate for 127.0.0.1 (openssl, offline)
    caFile = join(work, 'cert.pem');
    const key = join(work, 'key.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-keyout', key, '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr}`);
    args.push('--cert', caFile, '--key', key);
  }
  if (options.onDisk) args.push('--location', join(work, 'data'));
  else args.push('--inMemoryPersistence');
  const child = spawn(AZURITE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  // never leave it behind, even if the test dies before stop(): kill our own PID at exit
  process.once('exit', () => {
    if (!exited) { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }
    rmSync(work, { recursive: true, force: true });
  });
  const deadline = Date.now() + 30000;
  while (!(await tryConnect(port))) {
    if (exited) throw new Error(`Azurite exited before it listened (${JSON.stringify(exited)}): ${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Azurite did not listen on 127.0.0.1:${port} within 30 s: ${output}`);
    }
    await sleep(100);
  }
  const endpoint = `${options.https ? 'https' : 'http'}://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  const service = options.https ? null
    : new sdk.BlobServiceClient(endpoint, new sdk.StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY));
  return {
    port, endpoint, service, pid: child.pid, work, caFile,
    debugLog: () => (existsSync(join(work, 'debug.log')) ? readFileSync(join(work, 'debug.log'), 'utf8') : ''),
    async stop() {
      if (!exited) {
        process.kill(child.pid, 'SIGTERM');
        const until = Date.now() + 5000;
        while (!exited && Date.now() < until) await sleep(50);
        if (!exited) process.kill(child.pid, 'SIGKILL');
        const until2 = Date.now() + 2000;
        while (!exited && Date.now() < until2) await sleep(50);
      }
      rmSync(work, { recursive: true, force: true });
    },
  };
}

// Sign a container SAS URL for Azurite with the escrow command.
export function signUrl(az, container, permissions, extra = []) {
  const r = escrow(['sas', 'sign', '--account', DEV_ACCOUNT, '--key', DEV_KEY, '--container', container,
    '--permissions', permissions, '--expiry', '+2d', '--start', '2020-01-01T00:00:00Z',
    '--protocol', 'https,http', '--endpoint', az.endpoint, ...extra]);
  if (r.status !== 0) throw new Error(`escrow sas sign failed: ${r.stderr}`);
  return r.stdout.trim();
}

// Like escrow(), without blocking the event loop (needed when this process also runs a proxy).
export function escrowAsync(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(escrowBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, 120000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      let json;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({ status: signal ? `killed by ${signal}` : status, stdout, stderr, json });
    });
  });
}
