// Keys of DESIGN §2 with Web Crypto only: CEK (32 random bytes, cek_<uuid>.key), KEK public
// halves (DER, PEM or base64 of DER SPKI; RSA of 3072 bits or more) and WCEKs
// (RSA-OAEP(KEK, CEK), MGF1 with the same hash, empty label; wcek_<uuid>.key.bkenc).
import { bs, fromBase64, hex, uuid4 } from './bytes';

export class KeyError extends Error {}

export const CEK_BYTES = 32;
export const KEK_MIN_BITS = 3072;

/** A fresh CEK and its file name. The caller wipes cek when done. */
export function generateCek(): { cek: Uint8Array; fileName: string } {
  return { cek: crypto.getRandomValues(new Uint8Array(CEK_BYTES)), fileName: `cek_${uuid4()}.key` };
}

/** Read a CEK file: exactly 32 raw bytes, or canonical base64 of 32 bytes with at most one
 *  trailing newline. Anything else is refused (DESIGN §2). */
export function parseCek(file: Uint8Array): Uint8Array {
  if (file.length === CEK_BYTES) return file.slice();
  let text = new TextDecoder('latin1').decode(file);
  if (text.endsWith('\r\n')) text = text.slice(0, -2);
  else if (text.endsWith('\n')) text = text.slice(0, -1);
  if (text.length === 44) {
    let raw: Uint8Array | null = null;
    try {
      raw = fromBase64(text);
    } catch {
      raw = null;
    }
    // canonical: re-encoding gives the same text (no stray bits in the last character)
    if (raw && raw.length === CEK_BYTES && btoa(String.fromCharCode(...raw)) === text) return raw;
    raw?.fill(0);
  }
  throw new KeyError(`a CEK file holds 32 raw bytes or their base64 (44 characters); this one holds ${file.length} bytes`);
}

/** The SubjectPublicKeyInfo DER of a KEK public file (DER, PEM, or base64 of DER). */
export function kekSpki(file: Uint8Array): Uint8Array {
  if (file.length > 0 && file[0] === 0x30) return file.slice();
  const text = new TextDecoder('latin1').decode(file).trim();
  const pem = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(text);
  if (pem) {
    try {
      return fromBase64(pem[1].replace(/\s+/g, ''));
    } catch {
      throw new KeyError('the PEM block of the KEK file is not valid base64');
    }
  }
  if (/-----BEGIN (RSA )?PRIVATE KEY-----/.test(text)) throw new KeyError('this is a private key: choose the KEK public key file (.der) the platform gave you');
  try {
    const der = fromBase64(text.replace(/\s+/g, ''));
    if (der.length > 0 && der[0] === 0x30) return der;
  } catch {
    /* fall through */
  }
  throw new KeyError('the KEK file is not a public key in DER, PEM or base64 form');
}

export type OaepHash = 'SHA-256' | 'SHA-1';

export interface Kek {
  key: CryptoKey;
  bits: number;
  /** "sha256:<hex>" of the SPKI, the key id of DESIGN §3 */
  keyId: string;
}

/** Import a KEK public file for wrapping. Refuses non-RSA keys and moduli under 3072 bits. */
export async function importKek(file: Uint8Array, hash: OaepHash = 'SHA-256'): Promise<Kek> {
  const spki = kekSpki(file);
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('spki', bs(spki), { name: 'RSA-OAEP', hash }, true, ['encrypt']);
  } catch {
    throw new KeyError('the KEK file does not hold an RSA public key');
  }
  const bits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  if (bits < KEK_MIN_BITS) throw new KeyError(`the KEK is ${bits} bits; keys under ${KEK_MIN_BITS} bits are refused`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bs(spki)));
  return { key, bits, keyId: `sha256:${hex(digest)}` };
}

/** Wrap a CEK to a KEK: the WCEK bytes (as long as the modulus) and the file name to give them. */
export async function wrapCek(kek: Kek, cek: Uint8Array): Promise<{ wcek: Uint8Array; fileName: string }> {
  if (cek.length !== CEK_BYTES) throw new KeyError('the CEK must be 32 bytes');
  const wcek = new Uint8Array(await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, kek.key, bs(cek)));
  return { wcek, fileName: `wcek_${uuid4()}.key.bkenc` };
}
