// The encryption tool (manual §12.3, §12.6, §13.5, §14.4): runs offline in this browser with
// Web Crypto only; no key or plaintext leaves the page.
import { useState } from 'preact/hooks';
import { generateCek, parseCek, importKek, wrapCek, OaepHash, Kek } from '../lib/keys';
import { packAlgorithm, datasetZip, encryptDataset, InputFile } from '../lib/package';
import { parseContainerSas, uploadBlob } from '../lib/azblob';
import { wipe } from '../lib/bytes';
import { FileDrop, Progress, save, Status, bytesText } from './common';

const PAGES: [string, string][] = [
  ['cek', 'Generate CEK'],
  ['wcek', 'Generate WCEK'],
  ['algorithm', 'Encrypt Algorithm'],
  ['dataset', 'Encrypt Dataset'],
];

async function readCek(files: InputFile[]): Promise<Uint8Array> {
  const f = files[0].data;
  return parseCek(f instanceof Uint8Array ? f : new Uint8Array(await f.arrayBuffer()));
}

export function ToolPage(props: { page?: string }) {
  const page = props.page ?? 'cek';
  return (
    <section aria-labelledby="tool-title">
      <h1 id="tool-title">Encryption tool</h1>
      <p class="offline" role="note">Running offline: keys and files are processed in this browser with Web Crypto and never sent anywhere.</p>
      <nav class="tabs" aria-label="Encryption tool">
        {PAGES.map(([id, label]) => (
          <a href={`#/tool/${id}`} aria-current={page === id ? 'page' : undefined} class={page === id ? 'active' : ''}>{label}</a>
        ))}
      </nav>
      {page === 'cek' && <CekTool />}
      {page === 'wcek' && <WcekTool />}
      {page === 'algorithm' && <AlgorithmTool />}
      {page === 'dataset' && <DatasetTool />}
    </section>
  );
}

export function CekTool(props: { onCek?: (name: string) => void }) {
  const [msg, setMsg] = useState('');
  const gen = () => {
    const { cek, fileName } = generateCek();
    save(new Blob([cek as unknown as BlobPart], { type: 'application/octet-stream' }), fileName);
    wipe(cek);
    setMsg(`${fileName} was saved to your downloads. Keep it in your key manager: it cannot be recovered.`);
    props.onCek?.(fileName);
  };
  return (
    <div class="card">
      <h2>Content Encryption Key</h2>
      <p>A CEK is 32 random bytes that encrypt your dataset or algorithm files.</p>
      <button type="button" class="primary" onClick={gen}>Generate CEK</button>
      <Status kind="ok">{msg}</Status>
    </div>
  );
}

/** Wrap a CEK with a KEK. With kekFile given (the project's KEK), the KEK field is filled in. */
export function WcekTool(props: { kekFile?: { bytes: Uint8Array; name: string }; onWcek?: (wcek: Uint8Array, name: string) => Promise<void> | void }) {
  const [kek, setKek] = useState<{ files: InputFile[] } | null>(null);
  const [cekFiles, setCekFiles] = useState<InputFile[] | null>(null);
  const [hash, setHash] = useState<OaepHash>('SHA-256');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setMsg(null);
    setBusy(true);
    let cek: Uint8Array | null = null;
    try {
      const kekBytes = props.kekFile ? props.kekFile.bytes : kek ? new Uint8Array(await (kek.files[0].data as Blob).arrayBuffer()) : null;
      if (!kekBytes) throw new Error('add the Key Encryption Key (.der) downloaded from the project');
      if (!cekFiles) throw new Error('add your Content Encryption Key (cek_*.key)');
      const k: Kek = await importKek(kekBytes, hash);
      cek = await readCek(cekFiles);
      const { wcek, fileName } = await wrapCek(k, cek);
      if (props.onWcek) await props.onWcek(wcek, fileName);
      else save(new Blob([wcek as unknown as BlobPart]), fileName);
      setMsg({ kind: 'ok', text: props.onWcek ? `${fileName} was made and uploaded.` : `${fileName} was saved to your downloads (RSA-OAEP ${hash}, ${k.bits}-bit KEK).` });
    } catch (e) {
      setMsg({ kind: 'error', text: (e as Error).message });
    } finally {
      wipe(cek);
      setBusy(false);
    }
  };
  return (
    <div class="card">
      <h2>Wrapped Content Encryption Key</h2>
      {props.kekFile ? (
        <p>Key Encryption Key: <strong>{props.kekFile.name}</strong> (from the project)</p>
      ) : (
        <FileDrop id="wcek-kek" label="Key Encryption Key (.der)" onFiles={(f) => setKek({ files: f })} chosen={kek?.files[0]?.path} />
      )}
      <FileDrop id="wcek-cek" label="Content Encryption Key (cek_*.key)" onFiles={setCekFiles} chosen={cekFiles?.[0]?.path} />
      <label for="wcek-hash">OAEP hash</label>
      <select id="wcek-hash" value={hash} onChange={(e) => setHash((e.currentTarget as HTMLSelectElement).value as OaepHash)}>
        <option value="SHA-256">SHA-256 (default)</option>
        <option value="SHA-1">SHA-1 (BeeKeeperAI's published tool)</option>
      </select>
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={run}>Encrypt</button>
      </div>
      {msg && <Status kind={msg.kind}>{msg.text}</Status>}
    </div>
  );
}

function FileChecklist(props: { files: InputFile[]; selected: Set<string>; onToggle: (p: string) => void; legend: string; locked?: (p: string) => string | null }) {
  return (
    <fieldset class="checklist">
      <legend>{props.legend}</legend>
      {props.files.map((f, i) => (
        <div class="check">
          <input type="checkbox" id={`chk-${i}`} checked={props.selected.has(f.path)} disabled={!!props.locked?.(f.path)} onChange={() => props.onToggle(f.path)} />
          <label for={`chk-${i}`}>{f.path} <span class="muted">({bytesText(f.data instanceof Uint8Array ? f.data.length : f.data.size)}{props.locked?.(f.path) ? `; ${props.locked(f.path)}` : ''})</span></label>
        </div>
      ))}
    </fieldset>
  );
}

/** Choose an algorithm folder, tick the files to encrypt, give the CEK: the zip of DESIGN §4.
 *  onZip receives it instead of a download (the integrated upload flow). */
export function AlgorithmTool(props: { onZip?: (zip: Blob, name: string) => void; projectId?: string }) {
  const [files, setFiles] = useState<InputFile[]>([]);
  const [sel, setSel] = useState<Set<string>>(new Set());
  const [cekFiles, setCekFiles] = useState<InputFile[] | null>(null);
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [prog, setProg] = useState<[number, number] | null>(null);
  const toggle = (p: string) => {
    const s = new Set(sel);
    if (s.has(p)) s.delete(p);
    else s.add(p);
    setSel(s);
  };
  const run = async () => {
    setMsg(null);
    let cek: Uint8Array | null = null;
    try {
      if (!files.length) throw new Error('choose the algorithm folder');
      if (!cekFiles) throw new Error('add your Content Encryption Key (cek_*.key)');
      cek = await readCek(cekFiles);
      const zip = await packAlgorithm(cek, files, [...sel], { context: props.projectId ? { projectId: props.projectId } : {}, onProgress: (d, t) => setProg([d, t]) });
      const name = 'algorithm.zip';
      if (props.onZip) props.onZip(zip, name);
      else save(zip, name);
      setMsg({ kind: 'ok', text: `${name} (${bytesText(zip.size)}, ${sel.size} file(s) encrypted) ${props.onZip ? 'is ready to upload' : 'was saved to your downloads'}.` });
    } catch (e) {
      setMsg({ kind: 'error', text: (e as Error).message });
    } finally {
      wipe(cek);
    }
  };
  return (
    <div class="card">
      <h2>Encrypt algorithm</h2>
      <FileDrop id="alg-dir" label="Algorithm directory" folder onFiles={(f) => { setFiles(f.sort((a, b) => (a.path < b.path ? -1 : 1))); setSel(new Set()); }} chosen={files.length ? `${files.length} files` : undefined} />
      {files.length > 0 && <FileChecklist legend="Algorithm files to encrypt (only the ticked files are encrypted; keep the Dockerfile and run.sh in plaintext)" files={files} selected={sel} onToggle={toggle}
        locked={(p) => (p === 'Dockerfile' ? 'stays unencrypted: the platform builds the container from it' : p === 'secrets.yaml' ? 'replaced by the generated list' : null)} />}
      <FileDrop id="alg-cek" label="Content Encryption Key (cek_*.key)" onFiles={setCekFiles} chosen={cekFiles?.[0]?.path} />
      <div class="actions"><button type="button" class="primary" onClick={run}>Encrypt</button></div>
      {prog && <Progress value={prog[0]} max={prog[1]} label="Files encrypted" />}
      {msg && <Status kind={msg.kind}>{msg.text}</Status>}
    </div>
  );
}

/** Encrypt a dataset file by file (with the manifest) and download the zip, or upload the
 *  encrypted files straight to a blob container by SAS URL. */
export function DatasetTool() {
  const [files, setFiles] = useState<InputFile[]>([]);
  const [sel, setSel] = useState<Set<string>>(new Set());
  const [cekFiles, setCekFiles] = useState<InputFile[] | null>(null);
  const [version, setVersion] = useState('');
  const [sas, setSas] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [prog, setProg] = useState<[number, number] | null>(null);
  const [busy, setBusy] = useState(false);
  const chosen = () => files.filter((f) => sel.has(f.path));
  const toggle = (p: string) => {
    const s = new Set(sel);
    if (s.has(p)) s.delete(p);
    else s.add(p);
    setSel(s);
  };
  const zipped = files.some((f) => /\.zip$/i.test(f.path) && sel.has(f.path));
  const go = async (upload: boolean) => {
    setMsg(null);
    setBusy(true);
    let cek: Uint8Array | null = null;
    try {
      const list = chosen();
      if (!list.length) throw new Error('choose the dataset files or folder');
      if (!cekFiles) throw new Error('add your Content Encryption Key (cek_*.key)');
      cek = await readCek(cekFiles);
      const opts = { datasetVersion: version.trim() || undefined };
      if (!upload) {
        let n = 0;
        const zip = await datasetZip(cek, list, opts, () => setProg([++n, list.length + 1]));
        save(zip, 'dataset.enc.zip');
        setMsg({ kind: 'ok', text: `dataset.enc.zip (${list.length} files and the manifest) was saved to your downloads.` });
      } else {
        const target = parseContainerSas(sas);
        const total = list.reduce((a, f) => a + (f.data instanceof Uint8Array ? f.data.length : f.data.size), 0);
        let done = 0;
        let count = 0;
        for await (const item of encryptDataset(cek, list, opts)) {
          async function* pieces() {
            yield item.header;
            yield* item.chunks();
          }
          await uploadBlob(target, item.name, item.size, pieces(), (b) => {
            done = Math.min(total, done + b);
            setProg([done, total]);
          });
          count++;
        }
        setProg([total, total]);
        setMsg({ kind: 'ok', text: `Uploaded ${count} encrypted blobs (${list.length} files and the manifest) to the container.` });
      }
    } catch (e) {
      setMsg({ kind: 'error', text: (e as Error).message });
    } finally {
      wipe(cek);
      setBusy(false);
    }
  };
  return (
    <div class="card">
      <h2>Encrypt dataset</h2>
      <p>Choose the unzipped files or folder of your dataset. Every file is encrypted on its own (BKENC v1) and a signed manifest lists them.</p>
      <FileDrop id="ds-dir" label="Dataset folder" folder onFiles={(f) => { const s = f.sort((a, b) => (a.path < b.path ? -1 : 1)); setFiles(s); setSel(new Set(s.map((x) => x.path))); }} chosen={files.length ? `${files.length} files` : undefined} />
      {files.length > 0 && <FileChecklist legend="Files to encrypt (untick to omit)" files={files} selected={sel} onToggle={toggle} />}
      {zipped && <Status kind="error">A zip file is selected: encrypt and upload unzipped files, not zip files.</Status>}
      <FileDrop id="ds-cek" label="Content Encryption Key (cek_*.key)" onFiles={setCekFiles} chosen={cekFiles?.[0]?.path} />
      <label for="ds-version">Dataset version (optional, recorded in the manifest)</label>
      <input id="ds-version" value={version} onInput={(e) => setVersion((e.currentTarget as HTMLInputElement).value)} />
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={() => go(false)}>Encrypt</button>
      </div>
      <h3>Or upload to Azure Blob storage</h3>
      <label for="ds-sas">Container SAS URL (with write and create permissions; the container must allow this site by CORS)</label>
      <input id="ds-sas" type="url" value={sas} autocomplete="off" onInput={(e) => setSas((e.currentTarget as HTMLInputElement).value)} />
      <div class="actions">
        <button type="button" disabled={busy || !sas} onClick={() => go(true)}>Encrypt and upload</button>
      </div>
      {prog && <Progress value={prog[0]} max={prog[1]} label={sas && busy ? 'Uploaded' : 'Progress'} />}
      {msg && <Status kind={msg.kind}>{msg.text}</Status>}
    </div>
  );
}
