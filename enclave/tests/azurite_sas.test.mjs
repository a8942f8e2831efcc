// escrow-enclave pre-flight on a dataset behind a container SAS URL (a private Azurite on
// 127.0.0.1, started and stopped by this test): the sample algorithm lists and reads the
// encrypted blobs through the Enclave API and its report leaves exactly as with a folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { escrow, startAzurite, signUrl } from '../../tests/azure/azurite.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const examples = join(here, '..', '..', 'examples');
const cek = join(process.env.ESCROW_TEST_VECTORS, 'keys', 'cek.raw');
let az;
let work;

before(async () => {
  az = await startAzurite();
  work = mkdtempSync(join(tmpdir(), 'escrow-enclave-sas-'));
  chmodSync(work, 0o711);
  mkdirSync(join(work, 'rt'), { mode: 0o711 });
});
after(async () => {
  if (az) await az.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function enclave(args) {
  const r = spawnSync(process.env.ESCROW_ENCLAVE_BIN, args, {
    encoding: 'utf8', timeout: 120000, env: { ...process.env, TMPDIR: join(work, 'rt') },
  });
  if (r.error) throw r.error;
  return r;
}

test('the sample algorithm runs on a dataset behind a SAS URL', async () => {
  await az.service.getContainerClient('dataset').create();
  const enc = join(work, 'ds');
  let r = escrow(['encrypt', '--cek', cek, join(examples, 'dataset'), '-o', enc]);
  assert.equal(r.status, 0, r.stderr);
  r = escrow(['blob', 'put', enc, signUrl(az, 'dataset', 'racwl'), '--allow-loopback-http']);
  assert.equal(r.status, 0, r.stderr);
  const alg = join(work, 'alg.zip');
  r = escrow(['algorithm', 'pack', join(examples, 'algorithm'), '--cek', cek, '--encrypt', 'model', '-o', alg]);
  assert.equal(r.status, 0, r.stderr);

  const out = join(work, 'out');
  const e = enclave(['run', '--package', alg, '--dataset', signUrl(az, 'dataset', 'rl'),
    '--criteria', join(examples, 'algorithm', 'schema.json'), '--ao-cek', cek, '--ds-cek', cek, '-o', out]);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.equal(e.status, 0, `${e.stderr}\n${readFileSync(join(out, 'logs.jsonl'), 'utf8')}`);
  assert.equal(result.status, 'Completed');
  assert.equal(result.simulated_tee, true);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.json_data.report.patients, 12);
  assert.equal(report.json_data.report.lab_results, 16);
  assert.match(readFileSync(join(out, 'logs.jsonl'), 'utf8'), /dataset manifest verified: 2 file/);
  assert.deepEqual(readdirSync(join(work, 'rt')), [], 'a run folder was left behind');
});

test('a SAS URL without list permission fails the run and names the dataset', async () => {
  const out = join(work, 'out-nolist');
  const e = enclave(['run', '--package', join(examples, 'algorithm'), '--dataset', signUrl(az, 'dataset', 'r'),
    '--ds-cek', cek, '-o', out]);
  assert.equal(e.status, 1, e.stderr);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.equal(result.status, 'Failed');
  assert.ok(!readdirSync(out).includes('report.json'));
});
