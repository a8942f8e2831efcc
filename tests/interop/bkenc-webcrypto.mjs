// A small BKENC v1 writer and reader that uses nothing but Web Crypto
// (globalThis.crypto.subtle: HKDF, HMAC-SHA-256, AES-GCM), written from DESIGN §3 /
// docs/FORMAT.md. It shows that a browser can produce and read the format, and serves as an
// independent implementation for interoperability tests against libescrow and `escrow`.
//
//   magic(8) version(1)=1 suite(1)=1 log2cs(1) flags(1)=0 salt(32) ctxlen(2) context(ctxlen)
//   hdrtag(32) = HMAC-SHA-256(K_hdr, everything above)
//   chunks: AES-256-GCM(K_data, N_i, no AAD, M_i) || tag(16)
//   PRK = HKDF-Extract(salt, CEK); K_hdr = Expand(PRK, "libescrow/v1/header", 32);
//   K_data = Expand(PRK, "libescrow/v1/payload" || hdrtag, 32)
//   N_i = 11-byte big-endian i || (final ? 1 : 0)
//
// Errors are thrown as BkencError with .code set to the matching libescrow ESCROW_E_* name.

const subtle = globalThis.crypto.subtle;
const te = new TextEncoder();

export const MAGIC = Uint8Array.from([0x89, 0x42, 0x4b, 0x45, 0x4e, 0x43, 0x0d, 0x0a]);
export const VERSION = 1;
export const SUITE = 1;
export const LOG2CS_MIN = 14;
export const LOG2CS_MAX = 24;
export const CONTEXT_MAX = 4096;
export const HEADER_MIN = 78; // without context
const OFF_CTXLEN = 44;
const OFF_CONTEXT = 46;
const TAG = 16;
const MAX_CHUNKS = 2 ** 32;

// Context fields in TLV type order.
export const CONTEXT_TYPES = { project_id: 1, role: 2, asset: 3, path: 4, key_id: 5 };
const TYPE_NAMES = Object.fromEntries(Object.entries(CONTEXT_TYPES).map(([k, v]) => [v, k]));

export class BkencError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const fail = (code, message) => {
  throw new BkencError(code, message);
};

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function nonce(index, final) {
  const n = new Uint8Array(12);
  let x = BigInt(index);
  for (let i = 10; i >= 0; i--) {
    n[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  n[11] = final ? 1 : 0;
  return n;
}

// 1 if p is a clean relative path: the same rule as libescrow's writers and readers.
export function pathIsClean(p) {
  if (typeof p !== 'string' || p === '' || p.startsWith('/')) return false;
  for (const ch of p) {
    const c = ch.codePointAt(0);
    if (c < 0x20 || c === 0x7f || ch === '\\') return false;
  }
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

function encodeContext(context = {}) {
  const fields = [];
  for (const [name, type] of Object.entries(CONTEXT_TYPES)) {
    const v = context[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v === '' || v.includes('\0'))
      fail('ESCROW_E_INVALID', `context ${name} must be non-empty text without NUL`);
    if (type === 4 && !pathIsClean(v)) fail('ESCROW_E_INVALID', `context path is not clean: ${v}`);
    const bytes = te.encode(v);
    const tlv = new Uint8Array(3 + bytes.length);
    tlv[0] = type;
    tlv[1] = bytes.length >> 8;
    tlv[2] = bytes.length & 0xff;
    tlv.set(bytes, 3);
    fields.push(tlv);
  }
  const ctx = concat(...fields);
  if (ctx.length > CONTEXT_MAX) fail('ESCROW_E_INVALID', `context is ${ctx.length} bytes`);
  return ctx;
}

// K_hdr, the header tag of headerBody (everything before the tag), and K_data (CryptoKey).
async function keySchedule(cek, salt, headerBody) {
  if (!(cek instanceof Uint8Array) || cek.length !== 32) fail('ESCROW_E_KEY', 'CEK must be 32 bytes');
  const ikm = await subtle.importKey('raw', cek, 'HKDF', false, ['deriveBits']);
  const hkdf = (info) =>
    subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, ikm, 256);
  const khdr = await hkdf(te.encode('libescrow/v1/header'));
  const hmacKey = await subtle.importKey('raw', khdr, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const hdrtag = new Uint8Array(await subtle.sign('HMAC', hmacKey, headerBody));
  const kdata = await hkdf(concat(te.encode('libescrow/v1/payload'), hdrtag));
  const dataKey = await subtle.importKey('raw', kdata, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return { hdrtag, dataKey };
}

// Encrypt plaintext (Uint8Array) under cek (32-byte Uint8Array). Options: log2cs (14..24,
// default 16), context ({project_id, role, asset, path, key_id}), salt (32 bytes; tests only:
// a fresh random salt otherwise). Returns the whole file as a Uint8Array.
export async function encrypt(cek, plaintext, { log2cs = 16, context = {}, salt } = {}) {
  if (!Number.isInteger(log2cs) || log2cs < LOG2CS_MIN || log2cs > LOG2CS_MAX)
    fail('ESCROW_E_INVALID', `log2cs ${log2cs} out of range`);
  salt = salt ?? globalThis.crypto.getRandomValues(new Uint8Array(32));
  if (salt.length !== 32) fail('ESCROW_E_INVALID', 'salt must be 32 bytes');
  const ctx = encodeContext(context);
  const fixed = new Uint8Array(OFF_CONTEXT);
  fixed.set(MAGIC, 0);
  fixed[8] = VERSION;
  fixed[9] = SUITE;
  fixed[10] = log2cs;
  fixed[11] = 0;
  fixed.set(salt, 12);
  fixed[OFF_CTXLEN] = ctx.length >> 8;
  fixed[OFF_CTXLEN + 1] = ctx.length & 0xff;
  const body = concat(fixed, ctx);
  const { hdrtag, dataKey } = await keySchedule(cek, salt, body);
  const cs = 2 ** log2cs;
  const n = plaintext.length === 0 ? 1 : Math.ceil(plaintext.length / cs);
  if (n > MAX_CHUNKS) fail('ESCROW_E_LIMIT', 'more than 2^32 chunks');
  const parts = [body, hdrtag];
  for (let i = 0; i < n; i++) {
    const m = plaintext.subarray(i * cs, Math.min((i + 1) * cs, plaintext.length));
    const c = await subtle.encrypt(
      { name: 'AES-GCM', iv: nonce(i, i === n - 1), tagLength: 128 },
      dataKey,
      m,
    );
    parts.push(new Uint8Array(c));
  }
  return concat(...parts);
}

function validUtf8(bytes) {
  try {
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

// Parse the header structure (no key needed): {length, log2cs, salt, hdrtag, context, body}.
export function parseHeader(file) {
  const m = Math.min(file.length, 8);
  for (let i = 0; i < m; i++)
    if (file[i] !== MAGIC[i]) fail('ESCROW_E_FORMAT', 'bad magic: not a BKENC v1 file');
  if (file.length > 8 && file[8] !== VERSION) fail('ESCROW_E_UNSUPPORTED', `version ${file[8]}`);
  if (file.length > 9 && file[9] !== SUITE) fail('ESCROW_E_UNSUPPORTED', `suite ${file[9]}`);
  if (file.length > 10 && (file[10] < LOG2CS_MIN || file[10] > LOG2CS_MAX))
    fail('ESCROW_E_UNSUPPORTED', `log2cs ${file[10]}`);
  if (file.length > 11 && file[11] !== 0) fail('ESCROW_E_UNSUPPORTED', `flags ${file[11]}`);
  if (file.length < OFF_CONTEXT) fail('ESCROW_E_TRUNCATED', 'truncated header');
  const ctxlen = (file[OFF_CTXLEN] << 8) | file[OFF_CTXLEN + 1];
  if (ctxlen > CONTEXT_MAX) fail('ESCROW_E_LIMIT', `context of ${ctxlen} bytes`);
  const length = HEADER_MIN + ctxlen;
  if (file.length < length) fail('ESCROW_E_TRUNCATED', 'truncated header');
  const c = file.subarray(OFF_CONTEXT, OFF_CONTEXT + ctxlen);
  const context = {};
  let pos = 0;
  let prev = 0;
  while (pos < ctxlen) {
    if (ctxlen - pos < 3) fail('ESCROW_E_FORMAT', 'context field overruns the context');
    const type = c[pos];
    const vlen = (c[pos + 1] << 8) | c[pos + 2];
    if (type === 0) fail('ESCROW_E_FORMAT', 'context field of type 0');
    if (type <= prev) fail('ESCROW_E_FORMAT', 'context fields out of order or repeated');
    if (vlen === 0) fail('ESCROW_E_FORMAT', 'empty context field');
    if (vlen > ctxlen - pos - 3) fail('ESCROW_E_FORMAT', 'context field overruns the context');
    if (type >= 0x80) fail('ESCROW_E_UNSUPPORTED', `critical context field ${type}`);
    const v = c.subarray(pos + 3, pos + 3 + vlen);
    if (v.includes(0) || !validUtf8(v)) fail('ESCROW_E_FORMAT', 'context value is not UTF-8 text');
    const text = new TextDecoder().decode(v);
    if (type === 4 && !pathIsClean(text)) fail('ESCROW_E_FORMAT', 'context path is not clean');
    context[TYPE_NAMES[type] ?? `0x${type.toString(16).padStart(2, '0')}`] = text;
    prev = type;
    pos += 3 + vlen;
  }
  return {
    length,
    log2cs: file[10],
    salt: file.slice(12, 44),
    hdrtag: file.slice(length - 32, length),
    context,
    body: file.subarray(0, length - 32),
  };
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

async function openChunk(dataKey, ct, index, final) {
  try {
    return new Uint8Array(
      await subtle.decrypt({ name: 'AES-GCM', iv: nonce(index, final), tagLength: 128 }, dataKey, ct),
    );
  } catch {
    return null;
  }
}

// Decrypt a whole file. Options: expectPath (the header's path must equal it), expectHdrtag
// (32 bytes). Reads chunk by chunk as a stream would: a full chunk followed by more data is
// tried as non-final first; plaintext is returned only when every chunk verified.
export async function decrypt(cek, file, { expectPath, expectHdrtag } = {}) {
  const h = parseHeader(file);
  const { hdrtag, dataKey } = await keySchedule(cek, h.salt, h.body);
  if (!equalBytes(hdrtag, h.hdrtag))
    fail('ESCROW_E_AUTH', 'header authentication failed: wrong CEK or altered header');
  if (expectPath !== undefined && h.context.path !== expectPath)
    fail('ESCROW_E_MISMATCH', `the file is for path ${h.context.path}, not ${expectPath}`);
  if (expectHdrtag !== undefined && !equalBytes(expectHdrtag, h.hdrtag))
    fail('ESCROW_E_MISMATCH', 'header tag differs from the expected one');
  const full = 2 ** h.log2cs + TAG;
  const out = [];
  let off = h.length;
  let index = 0;
  if (off === file.length) fail('ESCROW_E_TRUNCATED', 'no chunk after the header');
  while (off < file.length) {
    if (index >= MAX_CHUNKS) fail('ESCROW_E_LIMIT', 'more than 2^32 chunks');
    const piece = file.subarray(off, Math.min(off + full, file.length));
    const more = off + piece.length < file.length;
    if (piece.length < TAG) fail('ESCROW_E_TRUNCATED', 'the file ends inside a chunk tag');
    if (more) {
      // A full chunk with data after it: normally non-final.
      let m = await openChunk(dataKey, piece, index, false);
      if (m === null) {
        if ((await openChunk(dataKey, piece, index, true)) !== null)
          fail('ESCROW_E_FORMAT', 'data after the final chunk');
        fail('ESCROW_E_AUTH', `chunk ${index} failed authentication`);
      }
      out.push(m);
    } else {
      let m = await openChunk(dataKey, piece, index, true);
      if (m === null) {
        if ((await openChunk(dataKey, piece, index, false)) !== null)
          fail('ESCROW_E_TRUNCATED', 'the final chunk is missing');
        fail('ESCROW_E_AUTH', `chunk ${index} failed authentication`);
      }
      if (m.length === 0 && index > 0)
        fail('ESCROW_E_FORMAT', 'an empty final chunk after a full one');
      out.push(m);
    }
    off += piece.length;
    index++;
  }
  return concat(...out);
}
