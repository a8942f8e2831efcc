// Upload to an Azure Blob Storage container through its SAS URL (Put Blob for small files,
// Put Block + Put Block List for larger ones), with progress. The container must allow the
// page's origin by CORS (Azure: storage account > Resource sharing) and the SAS must grant
// create/write ("c"/"w").
import { toBase64, te } from './bytes';

export class UploadError extends Error {
  constructor(message: string, readonly status = 0) {
    super(message);
  }
}

export const API_VERSION = '2023-11-03';
export const BLOCK_BYTES = 4 << 20;

export interface SasTarget {
  base: string;
  query: string;
}

/** Split a container SAS URL into the container URL and its query. */
export function parseContainerSas(url: string): SasTarget {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new UploadError('the SAS URL is not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UploadError('the SAS URL must be an https URL');
  if (!u.search || !u.searchParams.has('sig')) throw new UploadError('the URL carries no SAS token (no sig parameter)');
  const path = u.pathname.replace(/\/+$/, '');
  if (path === '') throw new UploadError('the SAS URL has no container path');
  return { base: `${u.origin}${path}`, query: u.search.slice(1) };
}

/** The URL of a blob (each path segment percent-encoded). */
export function blobUrl(t: SasTarget, name: string, extra = ''): string {
  const enc = name.split('/').map(encodeURIComponent).join('/');
  return `${t.base}/${enc}?${t.query}${extra}`;
}

async function failure(r: Response, what: string): Promise<UploadError> {
  let text = '';
  try {
    text = await r.text();
  } catch {
    /* no body */
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? r.headers.get('x-ms-error-code') ?? '';
  const msg = /<Message>([^<\n]*)/.exec(text)?.[1] ?? '';
  let hint = '';
  if (r.status === 403) hint = ': the SAS token does not allow writing here, has expired, or its signature is wrong';
  if (r.status === 404) hint = ': the container does not exist';
  return new UploadError(`${what} failed with HTTP ${r.status}${code ? ` ${code}` : ''}${msg ? ` (${msg})` : ''}${hint}`, r.status);
}

async function put(url: string, body: BodyInit, headers: Record<string, string>, what: string, attempts = 3): Promise<void> {
  for (let a = 1; ; a++) {
    let r: Response;
    try {
      r = await fetch(url, { method: 'PUT', body, headers: { 'x-ms-version': API_VERSION, ...headers } });
    } catch (e) {
      if (a >= attempts) throw new UploadError(`${what} failed: the storage service could not be reached (${(e as Error).message}); check the URL and the container's CORS rules`);
      await new Promise((res) => setTimeout(res, 300 * a));
      continue;
    }
    if (r.ok) return;
    if ((r.status >= 500 || r.status === 408) && a < attempts) {
      await new Promise((res) => setTimeout(res, 300 * a));
      continue;
    }
    throw await failure(r, what);
  }
}

/** Upload one blob from a stream of byte pieces of known total size; onBytes(n) after each
 *  piece is stored. Blocks of BLOCK_BYTES; one Put Blob when the whole fits in one block. */
export async function uploadBlob(t: SasTarget, name: string, size: number, pieces: AsyncIterable<Uint8Array>, onBytes?: (n: number) => void): Promise<void> {
  const blocks: string[] = [];
  let buf: Uint8Array[] = [];
  let held = 0;
  const flushBlock = async () => {
    const id = toBase64(te.encode(`escrow-block-${String(blocks.length).padStart(8, '0')}`));
    const body = new Blob(buf as unknown as BlobPart[]);
    await put(blobUrl(t, name, `&comp=block&blockid=${encodeURIComponent(id)}`), body, {}, `uploading block ${blocks.length} of ${name}`);
    blocks.push(id);
    onBytes?.(held);
    buf = [];
    held = 0;
  };
  if (size <= BLOCK_BYTES) {
    for await (const p of pieces) buf.push(p);
    await put(blobUrl(t, name), new Blob(buf as unknown as BlobPart[]), { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'application/octet-stream' }, `uploading ${name}`);
    onBytes?.(size);
    return;
  }
  for await (const p of pieces) {
    buf.push(p);
    held += p.length;
    if (held >= BLOCK_BYTES) await flushBlock();
  }
  if (held > 0) await flushBlock();
  const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${blocks.map((b) => `<Latest>${b}</Latest>`).join('')}</BlockList>`;
  await put(blobUrl(t, name, '&comp=blocklist'), xml, { 'content-type': 'application/xml', 'x-ms-blob-content-type': 'application/octet-stream' }, `committing ${name}`);
}
