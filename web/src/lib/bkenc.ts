// BKENC v1 writer with Web Crypto only (docs/FORMAT.md, DESIGN §3): the browser tool's third
// implementation of the format, byte-compatible with libescrow (tests decrypt its output with
// the escrow command). Streams: one chunk of plaintext in memory at a time.
import { bs, concat, readSlice, Source, sourceSize, te } from './bytes';

export const MAGIC = Uint8Array.from([0x89, 0x42, 0x4b, 0x45, 0x4e, 0x43, 0x0d, 0x0a]);
export const HEADER_MIN = 78;
export const CONTEXT_MAX = 4096;
export const LOG2CS_DEFAULT = 16;
const TAG = 16;
const MAX_CHUNKS = 2 ** 32;
/** How much of the plaintext is read at once (rounded to whole chunks). */
const READ_BYTES = 4 << 20;

/** Context fields (TLV types 0x01..0x05). */
export interface BkencContext {
  projectId?: string;
  role?: 'ao' | 'ds';
  asset?: string;
  path?: string;
  keyId?: string;
}

export class EncryptError extends Error {}

/** True when p is a clean relative path: '/'-separated, no empty, '.' or '..' part, no
 *  backslash or control character, no leading '/' (the rule of libescrow's writers). */
export function pathIsClean(p: string): boolean {
  if (p === '' || p.startsWith('/')) return false;
  for (const ch of p) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) return false;
    if (c < 0x20 || c === 0x7f || ch === '\\') return false;
  }
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function utf8Text(v: string): boolean {
  // lone surrogates would be replaced by U+FFFD when encoded: refuse them instead
  return !/\p{Cs}/u.test(v);
}

/** The context TLVs, in type order. Throws EncryptError on a value the format refuses. */
export function encodeContext(c: BkencContext = {}): Uint8Array {
  const fields: [number, string | undefined, string][] = [
    [1, c.projectId, 'project id'], [2, c.role, 'role'], [3, c.asset, 'asset'],
    [4, c.path, 'path'], [5, c.keyId, 'key id'],
  ];
  const parts: Uint8Array[] = [];
  for (const [type, v, name] of fields) {
    if (v === undefined) continue;
    if (v === '' || v.includes('\0') || !utf8Text(v)) throw new EncryptError(`the ${name} must be non-empty text without NUL characters`);
    if (type === 2 && v !== 'ao' && v !== 'ds') throw new EncryptError(`the role must be "ao" or "ds", not "${v}"`);
    if (type === 4 && !pathIsClean(v)) throw new EncryptError(`"${v}" is not a clean relative path`);
    const val = te.encode(v);
    if (val.length > 0xffff) throw new EncryptError(`the ${name} is too long`);
    parts.push(Uint8Array.of(type, val.length >> 8, val.length & 0xff), val);
  }
  const ctx = concat(...parts);
  if (ctx.length > CONTEXT_MAX) throw new EncryptError(`the context is ${ctx.length} bytes; at most ${CONTEXT_MAX}`);
  return ctx;
}

/** The 12-byte nonce of chunk i: 11-byte big-endian index || final flag. */
export function chunkNonce(i: number, final: boolean): Uint8Array {
  const n = new Uint8Array(12);
  let x = i;
  for (let k = 10; k >= 0 && x > 0; k--) {
    n[k] = x % 256;
    x = Math.floor(x / 256);
  }
  n[11] = final ? 1 : 0;
  return n;
}

/** Ciphertext size of a plaintext of p bytes: 78 + L + p + 16 n. */
export function ciphertextSize(p: number, contextLength: number, log2cs = LOG2CS_DEFAULT): number {
  const n = Math.max(1, Math.ceil(p / 2 ** log2cs));
  return HEADER_MIN + contextLength + p + TAG * n;
}

export interface EncryptOptions {
  context?: BkencContext;
  log2cs?: number;
  /** tests only: a fixed salt (a fresh random one otherwise) */
  salt?: Uint8Array;
}

/** One file being encrypted: the header (with its tag) is known at once; chunks() yields the
 *  sealed chunks in order, reading one chunk of the source at a time. */
export interface Encryption {
  header: Uint8Array;
  hdrtag: Uint8Array;
  plaintextSize: number;
  size: number;
  chunks(): AsyncGenerator<Uint8Array>;
}

/** Start encrypting source under the 32-byte CEK. */
export async function encryptSource(cek: Uint8Array, source: Source, opts: EncryptOptions = {}): Promise<Encryption> {
  const log2cs = opts.log2cs ?? LOG2CS_DEFAULT;
  if (!Number.isInteger(log2cs) || log2cs < 14 || log2cs > 24) throw new EncryptError(`chunk size 2^${log2cs} is outside 2^14..2^24`);
  if (cek.length !== 32) throw new EncryptError('the CEK must be 32 bytes');
  const salt = opts.salt ?? crypto.getRandomValues(new Uint8Array(32));
  if (salt.length !== 32) throw new EncryptError('the salt must be 32 bytes');
  const ctx = encodeContext(opts.context);
  const fixed = new Uint8Array(46);
  fixed.set(MAGIC, 0);
  fixed[8] = 1;
  fixed[9] = 1;
  fixed[10] = log2cs;
  fixed[11] = 0;
  fixed.set(salt, 12);
  fixed[44] = ctx.length >> 8;
  fixed[45] = ctx.length & 0xff;
  const body = concat(fixed, ctx);
  const subtle = crypto.subtle;
  const ikm = await subtle.importKey('raw', bs(cek), 'HKDF', false, ['deriveBits']);
  const expand = async (info: Uint8Array) =>
    new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: bs(salt), info: bs(info) }, ikm, 256));
  const khdr = await expand(te.encode('libescrow/v1/header'));
  const hmac = await subtle.importKey('raw', bs(khdr), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  khdr.fill(0);
  const hdrtag = new Uint8Array(await subtle.sign('HMAC', hmac, bs(body)));
  const kdata = await expand(concat(te.encode('libescrow/v1/payload'), hdrtag));
  const dataKey = await subtle.importKey('raw', bs(kdata), 'AES-GCM', false, ['encrypt']);
  kdata.fill(0);
  const p = sourceSize(source);
  const cs = 2 ** log2cs;
  const n = Math.max(1, Math.ceil(p / cs));
  if (n > MAX_CHUNKS) throw new EncryptError('the file needs more than 2^32 chunks');
  return {
    header: concat(body, hdrtag),
    hdrtag,
    plaintextSize: p,
    size: ciphertextSize(p, ctx.length, log2cs),
    async *chunks() {
      // read the source a few MiB at a time (a whole number of chunks), seal chunk by chunk:
      // memory stays bounded by READ_BYTES whatever the file size
      const per = Math.max(1, Math.floor(READ_BYTES / cs));
      for (let first = 0; first < n; first += per) {
        const last = Math.min(n, first + per);
        const block = await readSlice(source, first * cs, Math.min(p, last * cs));
        if (block.length !== Math.min(p, last * cs) - first * cs) throw new EncryptError('the file changed while it was read');
        for (let i = first; i < last; i++) {
          const m = block.subarray((i - first) * cs, Math.min(block.length, (i - first + 1) * cs));
          const c = await subtle.encrypt({ name: 'AES-GCM', iv: bs(chunkNonce(i, i === n - 1)), tagLength: 128 }, dataKey, bs(m));
          yield new Uint8Array(c);
        }
      }
    },
  };
}

/** Encrypt a whole source to a Blob (the browser keeps large Blobs out of the JS heap). */
export async function encryptToBlob(cek: Uint8Array, source: Source, opts: EncryptOptions = {}): Promise<{ blob: Blob; hdrtag: Uint8Array }> {
  const e = await encryptSource(cek, source, opts);
  const parts: BlobPart[] = [e.header as unknown as BlobPart];
  for await (const c of e.chunks()) parts.push(c as unknown as BlobPart);
  return { blob: new Blob(parts, { type: 'application/octet-stream' }), hdrtag: e.hdrtag };
}
