// A small zip writer (stored entries, UTF-8 names, Unix modes) producing a Blob from Blob parts,
// so a package of any size up to the plain zip limits is never held in the JS heap at once.
import { readSlice, sourceSize, te, Source } from './bytes';

export class ZipError extends Error {}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the zip polynomial) continued from crc over bytes. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

async function crcOf(s: Source): Promise<number> {
  const n = sourceSize(s);
  let crc = 0;
  for (let o = 0; o < n; o += 1 << 20) crc = crc32(await readSlice(s, o, Math.min(n, o + (1 << 20))), crc);
  return crc;
}

export interface ZipEntry {
  name: string;
  data: Source;
  /** Unix permission bits, 0644 unless given */
  mode?: number;
  /** the CRC-32 of data when the caller computed it while producing data */
  crc?: number;
}

const LIMIT = 0xffffffff;

function dosDateTime(d: Date): [number, number] {
  const year = Math.max(1980, d.getUTCFullYear());
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  const date = ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  return [time, date];
}

/** Build the zip. Refuses duplicate names and what would need Zip64 (4 GiB, 65535 entries). */
export async function buildZip(entries: ZipEntry[], when = new Date()): Promise<Blob> {
  if (entries.length > 0xffff) throw new ZipError('more than 65535 files: too many for a zip without Zip64');
  const seen = new Set<string>();
  const parts: BlobPart[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const [time, date] = dosDateTime(when);
  for (const e of entries) {
    if (seen.has(e.name)) throw new ZipError(`"${e.name}" is in the package twice`);
    seen.add(e.name);
    const name = te.encode(e.name);
    const size = sourceSize(e.data);
    if (size >= LIMIT || offset >= LIMIT) throw new ZipError('the package would exceed 4 GiB (Zip64 is not written)');
    const crc = e.crc ?? (await crcOf(e.data));
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint16(8, 0, true); // stored
    lv.setUint16(10, time, true);
    lv.setUint16(12, date, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, size, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 0, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, (3 << 8) | 20, true); // made by Unix, 2.0
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, 0, true);
    cv.setUint16(12, time, true);
    cv.setUint16(14, date, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, size, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(38, (((e.mode ?? 0o644) & 0o7777) | 0o100000) * 65536 >>> 0, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    central.push(cd);
    parts.push(local as unknown as BlobPart, (e.data instanceof Uint8Array ? e.data : e.data) as unknown as BlobPart);
    offset += local.length + size;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  if (offset + cdSize >= LIMIT) throw new ZipError('the package would exceed 4 GiB (Zip64 is not written)');
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  for (const c of central) parts.push(c as unknown as BlobPart);
  parts.push(end as unknown as BlobPart);
  return new Blob(parts, { type: 'application/zip' });
}
