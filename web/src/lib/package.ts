// The algorithm package (DESIGN §4) and the encrypted dataset (DESIGN §3, docs/FORMAT.md §6),
// built in the browser with the BKENC v1 writer.
import { BkencContext, EncryptError, encryptSource, encryptToBlob, pathIsClean } from './bkenc';
import { hex, Source, sourceSize, te } from './bytes';
import { buildZip, crc32, ZipEntry } from './zip';

export interface InputFile {
  /** relative path, '/'-separated */
  path: string;
  data: Source;
}

export const SECRETS_FILE = 'secrets.yaml';
export const MANIFEST_PATH = '.escrow-manifest';
export const MANIFEST_FORMAT = 'escrow-dataset-manifest/1';

function checkPaths(files: InputFile[]): void {
  const seen = new Set<string>();
  for (const f of files) {
    if (!pathIsClean(f.path)) throw new EncryptError(`"${f.path}" is not a clean relative path`);
    if (seen.has(f.path)) throw new EncryptError(`"${f.path}" was chosen twice`);
    seen.add(f.path);
  }
}

/** YAML double-quoted scalar, escaping what YAML does not allow raw (as libescrow writes it). */
function yamlQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || c === 0xfeff || c === 0xfffe || c === 0xffff)
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The secrets.yaml text listing [encrypted, original] pairs. */
export function secretsYaml(pairs: [string, string][]): string {
  let y = '# Files of this package that are encrypted: [encrypted, original]\n';
  if (pairs.length === 0) return `${y}secretFiles: []\n`;
  y += 'secretFiles:\n';
  for (const [e, o] of pairs) y += `  - [${yamlQuoted(e)}, ${yamlQuoted(o)}]\n`;
  return y;
}

export interface PackOptions {
  /** context of every secret (its path is set per file); role defaults to "ao" */
  context?: BkencContext;
  onProgress?: (done: number, total: number, path: string) => void;
}

/** Build the algorithm zip: every file as it is but the secrets, each secret encrypted to
 *  "<path>.bkenc" (its path in the header), and a generated secrets.yaml. The Dockerfile (at the
 *  root) and secrets.yaml must stay in plaintext; a secrets.yaml among the files is replaced. */
export async function packAlgorithm(cek: Uint8Array, files: InputFile[], secrets: string[], opts: PackOptions = {}): Promise<Blob> {
  checkPaths(files);
  const byPath = new Map(files.map((f) => [f.path, f]));
  if (!byPath.has('Dockerfile')) throw new EncryptError('the algorithm folder has no Dockerfile at its root: the platform builds the container from it');
  const secretSet = new Set(secrets);
  for (const s of secretSet) {
    if (!byPath.has(s)) throw new EncryptError(`"${s}" is not one of the chosen files`);
    if (s === 'Dockerfile') throw new EncryptError('the Dockerfile must stay unencrypted: the platform builds the container from it');
    if (s === SECRETS_FILE) throw new EncryptError('secrets.yaml cannot be a secret: it must stay readable');
    if (byPath.has(`${s}.bkenc`)) throw new EncryptError(`"${s}.bkenc" already exists among the files`);
  }
  if (secretSet.size === 0) throw new EncryptError('choose at least one file to encrypt');
  const entries: ZipEntry[] = [];
  for (const f of files) {
    if (f.path === SECRETS_FILE || secretSet.has(f.path)) continue;
    entries.push({ name: f.path, data: f.data, mode: /\.sh$/.test(f.path) ? 0o755 : 0o644 });
  }
  const ordered = [...secretSet].sort();
  const pairs: [string, string][] = [];
  let done = 0;
  for (const s of ordered) {
    const { blob } = await encryptToBlob(cek, byPath.get(s)!.data, { context: { role: 'ao', ...opts.context, path: s } });
    entries.push({ name: `${s}.bkenc`, data: blob });
    pairs.push([`${s}.bkenc`, s]);
    opts.onProgress?.(++done, ordered.length, s);
  }
  entries.push({ name: SECRETS_FILE, data: te.encode(secretsYaml(pairs)) });
  entries.sort((a, b) => byteCompare(a.name, b.name));
  return buildZip(entries);
}

/** Compare strings by their UTF-8 bytes (the manifest's order). */
export function byteCompare(a: string, b: string): number {
  const x = te.encode(a);
  const y = te.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export interface DatasetOptions {
  /** context of every file; role defaults to "ds" */
  context?: BkencContext;
  datasetVersion?: string;
}

/** One encrypted dataset file, ready to stream (blob name "<path>.bkenc"). */
export interface DatasetItem {
  name: string;
  path: string;
  size: number;
  chunks: () => AsyncGenerator<Uint8Array>;
  header: Uint8Array;
}

/** Encrypt a dataset file by file. Yields each file's encryption (so a caller streams it to a
 *  zip or a blob container), then the manifest ".escrow-manifest.bkenc" last. */
export async function* encryptDataset(cek: Uint8Array, files: InputFile[], opts: DatasetOptions = {}): AsyncGenerator<DatasetItem> {
  checkPaths(files);
  if (files.length === 0) throw new EncryptError('the dataset has no files');
  for (const f of files)
    if (f.path === MANIFEST_PATH || f.path === `${MANIFEST_PATH}.bkenc`) throw new EncryptError(`"${f.path}" is reserved for the dataset manifest`);
  const ctx: BkencContext = { role: 'ds', ...opts.context };
  const listed: { path: string; size: number; hdrtag: string }[] = [];
  const sorted = [...files].sort((a, b) => byteCompare(a.path, b.path));
  for (const f of sorted) {
    const e = await encryptSource(cek, f.data, { context: { ...ctx, path: f.path } });
    listed.push({ path: f.path, size: sourceSize(f.data), hdrtag: hex(e.hdrtag) });
    yield { name: `${f.path}.bkenc`, path: f.path, size: e.size, chunks: () => e.chunks(), header: e.header };
  }
  const manifest = te.encode(JSON.stringify({ format: MANIFEST_FORMAT, dataset_version: opts.datasetVersion ?? null, files: listed }));
  const m = await encryptSource(cek, manifest, { context: { ...ctx, path: MANIFEST_PATH } });
  yield { name: `${MANIFEST_PATH}.bkenc`, path: MANIFEST_PATH, size: m.size, chunks: () => m.chunks(), header: m.header };
}

/** The encrypted dataset as one zip (what the tool downloads, manual §13.5). */
export async function datasetZip(cek: Uint8Array, files: InputFile[], opts: DatasetOptions = {}, onFile?: (name: string) => void): Promise<Blob> {
  const entries: ZipEntry[] = [];
  for await (const item of encryptDataset(cek, files, opts)) {
    const parts: BlobPart[] = [item.header as unknown as BlobPart];
    let crc = crc32(item.header);
    for await (const c of item.chunks()) {
      parts.push(c as unknown as BlobPart);
      crc = crc32(c, crc);
    }
    entries.push({ name: item.name, data: new Blob(parts), crc });
    onFile?.(item.name);
  }
  return buildZip(entries);
}
