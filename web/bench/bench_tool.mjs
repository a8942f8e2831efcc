// Throughput of the encryption tool's BKENC v1 writer (web/src/lib, Web Crypto) in Node: the
// same code the browser runs, on Node's Web Crypto. Prints the figure and the command.
//   node web/bench/bench_tool.mjs [MiB]          (default 64)
import { loadLib, pattern } from '../tests/common.mjs';

const mib = Number(process.argv[2] ?? 64);
const L = await loadLib();
const data = new Blob([pattern(mib << 20, 1)]);
const cek = L.generateCek().cek;
for (const [what, run] of [
  ['encrypt to a Blob (one 64 KiB chunk at a time)', () => L.encryptToBlob(cek, data)],
  ['dataset of one file, manifest included, streamed', async () => {
    for await (const item of L.encryptDataset(cek, [{ path: 'big.bin', data }])) for await (const _ of item.chunks()) { /* */ }
  }],
]) {
  await run(); // warm up
  const t0 = process.hrtime.bigint();
  await run();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${what}: ${mib} MiB in ${s.toFixed(2)} s = ${(mib / s).toFixed(0)} MiB/s`);
}
console.log(`command: node web/bench/bench_tool.mjs ${mib}   (node ${process.version}, ${(await import('node:os')).cpus().length} cores)`);
