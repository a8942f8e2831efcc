// Small shared pieces: file drop zones, downloads, status lines, initials.
import { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { InputFile } from '../lib/package';

export function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

export function initials(s: string): string {
  const name = s.split('@')[0].split(/[._\-\s]+/).filter(Boolean);
  return ((name[0]?.[0] ?? '?') + (name[1]?.[0] ?? '')).toUpperCase();
}

export function Status(props: { kind?: 'ok' | 'error' | 'info'; children: ComponentChildren }) {
  if (!props.children) return null;
  return (
    <p class={`status ${props.kind ?? 'info'}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </p>
  );
}

async function walkEntry(entry: FileSystemEntry, prefix: string, out: InputFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    out.push({ path: prefix + entry.name, data: file });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      for (const e of batch) await walkEntry(e, `${prefix}${entry.name}/`, out);
    }
  }
}

/** Strip the chosen folder's own name from every path ("alg/run.sh" -> "run.sh"). */
function stripTop(files: InputFile[]): InputFile[] {
  const tops = new Set(files.map((f) => f.path.split('/')[0]));
  if (tops.size === 1 && files.every((f) => f.path.includes('/'))) return files.map((f) => ({ ...f, path: f.path.slice(f.path.indexOf('/') + 1) }));
  return files;
}

/** A drop zone over a real file input: click, keyboard (it is a labelled input) or drag and drop. */
export function FileDrop(props: { id: string; label: string; hint?: string; folder?: boolean; multiple?: boolean; accept?: string; onFiles: (files: InputFile[]) => void; chosen?: string }) {
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const pick = (list: FileList | null) => {
    if (!list) return;
    const files: InputFile[] = [...list].map((f) => ({ path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, data: f }));
    props.onFiles(props.folder ? stripTop(files) : files);
  };
  const drop = async (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const items = e.dataTransfer?.items;
    if (props.folder && items && items.length && typeof items[0].webkitGetAsEntry === 'function') {
      const out: InputFile[] = [];
      const entries = [...items].map((it) => it.webkitGetAsEntry());
      if (entries.every((x) => x !== null)) {
        for (const entry of entries) await walkEntry(entry!, '', out);
        props.onFiles(stripTop(out));
        return;
      }
    }
    pick(e.dataTransfer?.files ?? null);
  };
  const folderAttrs = props.folder ? { webkitdirectory: true } : {};
  return (
    <div class={`drop ${over ? 'over' : ''}`} onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)} onDrop={drop}>
      <label for={props.id}>{props.label}</label>
      <input ref={input} id={props.id} type="file" multiple={props.multiple || props.folder} accept={props.accept} {...folderAttrs}
        onChange={(e) => pick((e.currentTarget as HTMLInputElement).files)} />
      <span class="hint">{props.chosen ? `Chosen: ${props.chosen}` : props.hint ?? 'Drag and drop here, or choose'}</span>
    </div>
  );
}

export function Progress(props: { value: number; max: number; label: string }) {
  const pct = props.max > 0 ? Math.round((100 * props.value) / props.max) : 0;
  return (
    <div class="progress">
      <progress value={props.value} max={props.max || 1} aria-label={props.label} />
      <span>{props.label}: {pct}%</span>
    </div>
  );
}
