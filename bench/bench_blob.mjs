// Blob client benchmark: escrow against a plain `curl` on the same blob, in the same run, with a
// private Azurite on 127.0.0.1 (on disk, started and stopped by PID here).
//
//   node bench/bench_blob.mjs [SIZE_MIB] [RUNS]      (default 256 MiB, 3 runs; env ESCROW_BIN)
//
// Prints, best of RUNS:
//   download: `escrow blob get --cek` (download + decrypt BKENC v1 + write the plaintext) vs
//             `curl -o` of the same encrypted blob; throughput ratio (goal >= 0.9);
//   upload:   `escrow blob put` (4 MiB blocks, 4 in parallel, MD5s) vs `curl -T` (one Put Blob);
//   peak RSS of escrow for both (goal <= 32 MiB whatever the size: try SIZE_MIB=2048).
// escrow writes its output under a temporary name, fsyncs and renames it (no partial plaintext
// ever); curl just writes. `escrow blob get` without --cek is also timed to separate the two.
// See bench/BLOB.md for figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { startAzurite, signUrl, escrowBin } = await import(join(here, '..', 'tests', 'azure', 'azurite.mjs'));

const sizeMiB = Number(process.argv[2] || 256);
const runs = Number(process.argv[3] || 3);
const bin = escrowBin();

function timed(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').pop().split(' ');
  return { seconds: Number(last[0]), rssMiB: Number(last[1]) / 1024 };
}

const work = mkdtempSync(join(tmpdir(), 'escrow-bench-blob-'));
const az = await startAzurite({ onDisk: true });
try {
  // the dataset: SIZE MiB of random bytes, encrypted with escrow (64 KiB chunks)
  const plainDir = join(work, 'plain');
  mkdirSync(plainDir);
  const plain = join(plainDir, 'data.bin');
  const fd = openSync(plain, 'w');
  const buf = Buffer.alloc(1 << 20);
  for (let i = 0; i < sizeMiB; i++) { randomFillSync(buf); writeSync(fd, buf); }
  closeSync(fd);
  const cek = join(work, 'cek.key');
  spawnSync(bin, ['cek', 'generate', '-o', cek]);
  const encDir = join(work, 'enc');
  mkdirSync(encDir);
  const enc = join(encDir, 'data.bin.bkenc');
  const e = spawnSync(bin, ['encrypt', '--cek', cek, plain, '-o', enc], { encoding: 'utf8' });
  if (e.status !== 0) throw new Error(e.stderr);
  const bytes = statSync(enc).size;

  let best = { escrowUp: Infinity, curlUp: Infinity, escrowDown: Infinity, curlDown: Infinity, plainGet: Infinity, curlSync: Infinity, rssUp: 0, rssDown: 0 };
  for (let r = 0; r < runs; r++) {
    const c1 = `bench-escrow-${r}`;
    const c2 = `bench-curl-${r}`;
    await az.service.getContainerClient(c1).create();
    await az.service.getContainerClient(c2).create();
    const u1 = signUrl(az, c1, 'racwl');
    const u2 = new URL(signUrl(az, c2, 'racwl'));
    // upload
    const up = timed(bin, ['blob', 'put', encDir, u1, '--allow-loopback-http']);
    const blobUrl = `${u2.origin}${u2.pathname}/data.bin.bkenc?${u2.searchParams}`;
    const cup = timed('curl', ['-sS', '--fail', '--noproxy', '127.0.0.1', '-T', enc, '-H', 'x-ms-blob-type: BlockBlob',
      '-H', 'Expect:', '-o', '/dev/null', blobUrl]);
    // download (escrow: + decrypt + write plaintext; curl: write the ciphertext)
    const out1 = join(work, `out-${r}.bin`);
    const out2 = join(work, `out-${r}.bkenc`);
    const down = timed(bin, ['blob', 'get', u1, 'data.bin.bkenc', '-o', out1, '--cek', cek, '--allow-loopback-http']);
    const cdown = timed('curl', ['-sS', '--fail', '--noproxy', '127.0.0.1', '-o', out2, blobUrl]);
    const out4 = join(work, `out-${r}.synced`);
    const csync = timed('sh', ['-c', 'curl -sS --fail --noproxy 127.0.0.1 -o "$1" "$2" && sync "$1"', 'sh', out4, blobUrl]);
    rmSync(out4);
    const out3 = join(work, `out-${r}.plain-get`);
    const pget = timed(bin, ['blob', 'get', u1, 'data.bin.bkenc', '-o', out3, '--allow-loopback-http']);
    rmSync(out3);
    if (statSync(out1).size !== sizeMiB * 1048576 || statSync(out2).size !== bytes) throw new Error('size mismatch');
    rmSync(out1);
    rmSync(out2);
    best = {
      escrowUp: Math.min(best.escrowUp, up.seconds), curlUp: Math.min(best.curlUp, cup.seconds),
      escrowDown: Math.min(best.escrowDown, down.seconds), curlDown: Math.min(best.curlDown, cdown.seconds),
      plainGet: Math.min(best.plainGet, pget.seconds), curlSync: Math.min(best.curlSync, csync.seconds),
      rssUp: Math.max(best.rssUp, up.rssMiB), rssDown: Math.max(best.rssDown, down.rssMiB),
    };
    await az.service.getContainerClient(c1).delete();
    await az.service.getContainerClient(c2).delete();
  }
  const mibs = (s) => (bytes / 1048576 / s).toFixed(1);
  console.log(`blob size: ${(bytes / 1048576).toFixed(1)} MiB (BKENC v1 of ${sizeMiB} MiB), best of ${runs}, Azurite ${az.endpoint}`);
  console.log(`download+decrypt: escrow ${best.escrowDown.toFixed(2)} s (${mibs(best.escrowDown)} MiB/s) vs curl ${best.curlDown.toFixed(2)} s (${mibs(best.curlDown)} MiB/s): ratio ${(best.curlDown / best.escrowDown).toFixed(2)} (goal >= 0.9)`);
  console.log(`  (escrow blob get without --cek, same atomic write + fsync: ${best.plainGet.toFixed(2)} s, ${mibs(best.plainGet)} MiB/s)`);
  console.log(`  (curl -o then sync of the file, as durable as escrow's output: ${best.curlSync.toFixed(2)} s: ratio ${(best.curlSync / best.escrowDown).toFixed(2)})`);
  console.log(`upload:           escrow ${best.escrowUp.toFixed(2)} s (${mibs(best.escrowUp)} MiB/s) vs curl ${best.curlUp.toFixed(2)} s (${mibs(best.curlUp)} MiB/s): ratio ${(best.curlUp / best.escrowUp).toFixed(2)} (goal >= 0.9)`);
  console.log(`peak RSS of escrow: download ${best.rssDown.toFixed(1)} MiB, upload ${best.rssUp.toFixed(1)} MiB (goal <= 32 MiB)`);
  console.log(`reproduce: ESCROW_BIN=build/tools/escrow/escrow node bench/bench_blob.mjs ${sizeMiB} ${runs}`);
} finally {
  await az.stop();
  rmSync(work, { recursive: true, force: true });
}
