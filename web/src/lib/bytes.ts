// Byte helpers shared by the encryption tool (no dependencies, Web Crypto only).

export const te = new TextEncoder();

/** Concatenate byte arrays into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Lowercase hex. */
export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Standard base64 of bytes. */
export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Decode standard base64 (whitespace not allowed); throws on anything else. */
export function fromBase64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new Error('not base64');
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Overwrite a buffer holding a secret. */
export function wipe(b: Uint8Array | null | undefined): void {
  if (b) b.fill(0);
}

/** A fresh RFC 4122 version-4 UUID (crypto.randomUUID where it exists, else from random bytes). */
export function uuid4(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Something that holds bytes and can hand out slices: a File, a Blob, or bytes in memory. */
export type Source = Blob | Uint8Array;

export function sourceSize(s: Source): number {
  return s instanceof Uint8Array ? s.length : s.size;
}

/** Bytes [start, end) of a source. */
export async function readSlice(s: Source, start: number, end: number): Promise<Uint8Array> {
  if (s instanceof Uint8Array) return s.subarray(start, end);
  return new Uint8Array(await s.slice(start, end).arrayBuffer());
}

/** A Web Crypto BufferSource view of bytes (TypeScript's lib wants ArrayBuffer-backed views). */
export function bs(b: Uint8Array): BufferSource {
  return b as unknown as BufferSource;
}
