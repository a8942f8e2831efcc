// Login, home (project cards, search) and the project page (milestones, artifact cards, keys).
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, ProjectPage, ProjectSummary, SearchHit, User, Version } from '../api';
import { go } from '../router';
import { bytesText, FileDrop, save, Status } from './common';
import { AlgorithmTool, WcekTool } from './tool';
import { QuickActions, RunsCard } from './runs';
import type { InputFile } from '../lib/package';
import { te } from '../lib/bytes';

export function Login(props: { onLogin: (u: User) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr('');
    setBusy(true);
    try {
      props.onLogin(await api.login(email.trim(), password));
      go('');
    } catch (x) {
      setErr(x instanceof ApiError && x.status === 401 ? 'Wrong e-mail or password.' : (x as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="login card" aria-labelledby="login-title">
      <h1 id="login-title">Log in to escrow</h1>
      <form onSubmit={submit}>
        <label for="email">E-mail</label>
        <input id="email" type="email" autocomplete="username" required value={email} onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)} />
        <label for="password">Password</label>
        <input id="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
        <div class="actions"><button class="primary" type="submit" disabled={busy}>Log in</button></div>
        {err && <Status kind="error">{err}</Status>}
      </form>
      <p class="muted">The <a href="#/tool/cek">encryption tool</a> works without logging in.</p>
    </section>
  );
}

const ROLE: Record<string, string> = { ao: 'Algorithm Owner', ds: 'Data Steward' };

function dateText(v: number | string | undefined): string {
  if (v === undefined) return '';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  return isNaN(d.getTime()) ? String(v) : d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export function TeeBadge(props: { tee?: string; simulated?: boolean }) {
  if (props.simulated || props.tee === 'sandbox') return <span class="badge sim" title="The sandbox backend simulates a TEE: no hardware attestation">simulated TEE</span>;
  return props.tee ? <span class="badge">{props.tee}</span> : null;
}

export function Home() {
  const [data, setData] = useState<{ projects: ProjectSummary[] } | null>(null);
  const [err, setErr] = useState('');
  const [q, setQ] = useState('');
  const [results, setResults] = useState<SearchHit[] | null>(null);
  useEffect(() => {
    api.me().then(setData, (e: Error) => setErr(e.message));
  }, []);
  const search = async (e: Event) => {
    e.preventDefault();
    if (!q.trim()) return setResults(null);
    try {
      setResults((await api.search(q.trim())).results ?? []);
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const projects = [...(data?.projects ?? [])].sort((a, b) => String(b.created ?? '').localeCompare(String(a.created ?? ''), undefined, { numeric: true }));
  return (
    <section aria-labelledby="home-title">
      <h1 id="home-title">Projects</h1>
      <form class="search" role="search" onSubmit={search}>
        <label for="q">Search project metadata</label>
        <input id="q" type="search" value={q} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Search</button>
      </form>
      {results !== null && <SearchResults hits={results} />}
      {err && <Status kind="error">{err}</Status>}
      {!data && !err && <p>Loading…</p>}
      <ul class="cards">
        {projects.map((p) => (
          <li class="card project" key={p.id}>
            <div class="card-head">
              <h2><a href={`#/project/${encodeURIComponent(p.id)}`}>{p.name}</a></h2>
              <span class={`state ${String(p.state ?? '').toLowerCase()}`}>{p.state}</span>
            </div>
            <p>{p.description}</p>
            <p class="muted">Created {dateText(p.created)} · {p.role ? `you are ${ROLE[p.role] ?? p.role}` : ''} {p.training ? '· training' : '· validation'} <TeeBadge tee={p.tee} simulated={p.simulated_tee} /></p>
            {p.collaborators && (
              <ul class="collab" aria-label="Collaborators">
                {p.collaborators.map((c) => <li>{c.org} — {ROLE[c.role] ?? c.role}</li>)}
              </ul>
            )}
            {p.members && p.members.length > 0 && (
              <div class="initials-row" aria-label="Users">{p.members.map((m) => <span class="initials" title={m.email}>{m.initials}</span>)}</div>
            )}
          </li>
        ))}
      </ul>
      {data && projects.length === 0 && <p>No project has been assigned to you yet.</p>}
    </section>
  );
}

function SearchResults(props: { hits: SearchHit[] }) {
  return (
    <div class="card" aria-live="polite">
      <h2>Search results</h2>
      {props.hits.length === 0 ? <p>Nothing matches.</p> : (
        <ul class="hits">
          {props.hits.map((h) => (
            <li>
              <a href={`#/project/${encodeURIComponent(h.project_id)}`}>{h.project_name}</a> · {h.type.replace(/_/g, ' ')} · <strong>{h.name}</strong>
              {h.version_tag ? ` (version ${h.version_tag})` : ''}
              {h.description ? <span class="muted"> — {h.description}</span> : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const KINDS: [string, string, 'ao' | 'ds' | 'any', string][] = [
  ['data_specification', 'Data Specification', 'ao', 'data-specification'],
  ['validation_criteria', 'Validation Criteria', 'ao', 'validation-criteria'],
  ['data_attestation', 'Data Attestation Report', 'ds', 'data-attestation'],
  ['algorithm', 'Algorithm', 'ao', 'algorithm'],
  ['dataset', 'Dataset', 'ds', 'dataset'],
];

/** Milestones of §11.1: green achieved, yellow pending. */
function milestones(page: ProjectPage): { label: string; state: 'done' | 'pending' | 'failed' }[] {
  const has = (t: string, role?: string) => page.versions.some((v) => v.artifact_type === t && (!role || v.role === role));
  const alg = page.versions.filter((v) => v.artifact_type === 'algorithm');
  const algFailed = alg.length > 0 && alg.every((v) => JSON.stringify(v.details ?? {}).includes('"Failed"'));
  // each party sees only its own WCEK (the platform never lists another party's)
  const mine = page.role === 'ao' ? 'AO' : 'DS';
  return [
    { label: `${mine} WCEK uploaded`, state: has('wcek', page.role) ? 'done' : 'pending' },
    { label: 'Data Specification uploaded', state: has('data_specification') ? 'done' : 'pending' },
    { label: 'Validation Criteria uploaded', state: has('validation_criteria') || page.project.training ? 'done' : 'pending' },
    { label: 'Data Attestation uploaded', state: has('data_attestation') ? 'done' : 'pending' },
    { label: 'Algorithm added', state: algFailed ? 'failed' : alg.length ? 'done' : 'pending' },
    { label: 'Dataset added', state: has('dataset') ? 'done' : 'pending' },
  ];
}

export function Project(props: { id: string }) {
  const [page, setPage] = useState<ProjectPage | null>(null);
  const [err, setErr] = useState('');
  const [form, setForm] = useState<string | null>(null);
  const load = () => api.project(props.id).then(setPage, (e: Error) => setErr(e.message));
  useEffect(() => {
    load();
  }, [props.id]);
  if (err) return <Status kind="error">{err}</Status>;
  if (!page) return <p>Loading…</p>;
  const role = page.role;
  const p = page.project;
  // uploads and runs need an Active project (manual §10.4)
  const active = !p.state || p.state === 'Active';
  return (
    <section aria-labelledby="project-title">
      <nav class="crumbs" aria-label="Breadcrumbs"><a href="#/">Home</a> › {p.name}</nav>
      <div class="project-head">
        <div>
          <h1 id="project-title">{p.name}</h1>
          <p>{p.description}</p>
          <p>Viewing as: <strong>{ROLE[role]}</strong> · state <span class={`state ${String(p.state ?? '').toLowerCase()}`}>{p.state}</span> · <TeeBadge tee={p.tee} simulated={p.simulated_tee} /></p>
        </div>
        <ol class="milestones" aria-label="Workflow milestones">
          {milestones(page).map((m) => <li class={`m-${m.state}`}><span class="dot" aria-hidden="true" />{m.label}<span class="sr"> ({m.state === 'done' ? 'achieved' : m.state === 'failed' ? 'attempted, not achieved' : 'pending'})</span></li>)}
        </ol>
      </div>
      {!active && <Status kind="info">This project is {p.state}: its artifacts can be viewed and searched, but nothing can be added.</Status>}
      {form && <ArtifactForm kind={form} page={page} onClose={() => setForm(null)} onDone={() => { setForm(null); load(); }} />}
      <div class="grid">
        {KINDS.map(([kind, label, owner, _]) => {
          const vs = page.versions.filter((v) => v.artifact_type === kind).sort((a, b) => b.system_version - a.system_version);
          const mine = (owner === 'any' || owner === role) && active;
          return (
            <article class="card artifact" aria-labelledby={`h-${kind}`}>
              <h2 id={`h-${kind}`}>{label}</h2>
              {vs.length === 0 ? <p class="muted">Not added yet.</p> : <VersionList versions={vs} />}
              {mine && <button type="button" onClick={() => setForm(kind)}>{vs.length ? 'New version' : `New ${label}`}</button>}
              {kind === 'validation_criteria' && role === 'ds' && vs.length > 0 && <AcceptCriteria projectId={p.id} tag={vs[0].version_tag} />}
            </article>
          );
        })}
        <KeysCard page={page} active={active} onChange={load} />
      </div>
      <RunsCard page={page} active={active} />
      <QuickActions projectId={page.project.id} />
    </section>
  );
}

/** A data steward accepts the criteria version before any run is initiated (DESIGN §8). */
function AcceptCriteria(props: { projectId: string; tag: string }) {
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const accept = async () => {
    try {
      await api.acceptCriteria(props.projectId, props.tag);
      setMsg({ kind: 'ok', text: `You accepted criteria version ${props.tag}.` });
    } catch (e) {
      const x = e as ApiError;
      setMsg(x.status === 409 ? { kind: 'ok', text: `Criteria version ${props.tag} is already accepted by your organisation.` } : { kind: 'error', text: x.message });
    }
  };
  return (
    <div>
      <button type="button" onClick={accept}>Accept criteria {props.tag}</button>
      {msg && <Status kind={msg.kind}>{msg.text}</Status>}
    </div>
  );
}

function VersionList(props: { versions: Version[] }) {
  const v = props.versions[0];
  const d = (v.details ?? {}) as Record<string, unknown>;
  return (
    <div>
      <p><strong>{v.name}</strong></p>
      {v.description && <p>{v.description}</p>}
      <dl class="meta">
        <dt>Version Tag</dt><dd>{v.version_tag}</dd>
        <dt>System Version</dt><dd>{v.system_version}</dd>
        {v.version_description && <><dt>Version Description</dt><dd>{v.version_description}</dd></>}
        {v.file_name && <><dt>File</dt><dd>{v.file_name}</dd></>}
        {typeof d.sas_status === 'string' && <><dt>SAS URL</dt><dd class={`sas-${d.sas_status}`}>{d.sas_status}{d.sas_expiry ? `, expires ${String(d.sas_expiry)}` : ''}</dd></>}
        {Array.isArray(d.upload_status) && <><dt>Upload status</dt><dd><UploadStages stages={d.upload_status as unknown[]} /></dd></>}
      </dl>
      {props.versions.length > 1 && <p class="muted">{props.versions.length - 1} earlier version(s)</p>}
    </div>
  );
}

interface Check { name: string; status: string; detail?: string }

/** The upload checks of manual §14.5.5.1 (each with its state and detail). */
export function Checks(props: { checks: unknown }) {
  const c = props.checks as { checks?: Check[] } | Check[] | undefined;
  const list = Array.isArray(c) ? c : c?.checks ?? [];
  return (
    <ul class="checks">
      {list.map((x) => <li class={`ck-${x.status.replace(/\s+/g, '-')}`}><span aria-hidden="true">{x.status === 'passed' ? '✔' : x.status === 'failed' ? '✘' : '–'}</span> {x.name}: {x.status}{x.detail ? ` (${x.detail})` : ''}</li>)}
    </ul>
  );
}

/** The upload stages of manual §14.5.5 as the platform records them. */
export function UploadStages(props: { stages: unknown[] }) {
  return (
    <ol class="stages">
      {props.stages.map((s) => {
        const st = s as { stage?: string; name?: string; status?: string; detail?: string; checks?: unknown };
        return (
          <li class={`st-${String(st.status ?? '').toLowerCase().replace(/\s+/g, '-')}`}>
            {st.stage ?? st.name}: {st.status}{st.detail ? ` — ${st.detail}` : ''}
            {st.checks !== undefined && <Checks checks={st.checks} />}
          </li>
        );
      })}
    </ol>
  );
}

function KeysCard(props: { page: ProjectPage; active: boolean; onChange: () => void }) {
  const { page } = props;
  const [err, setErr] = useState('');
  const [mode, setMode] = useState<'none' | 'upload' | 'generate'>('none');
  const [tag, setTag] = useState('');
  const [desc, setDesc] = useState('');
  const [file, setFile] = useState<InputFile | null>(null);
  const [kek, setKek] = useState<{ bytes: Uint8Array; name: string } | null>(null);
  const [ok, setOk] = useState('');
  const wceks = page.versions.filter((v) => v.artifact_type === 'wcek' && v.role === page.role).sort((a, b) => b.system_version - a.system_version);
  const download = async () => {
    try {
      const k = await api.kek(page.project.id);
      save(new Blob([k['key content']], { type: 'application/x-pem-file' }), k.file_name);
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  const startGenerate = async () => {
    setErr('');
    try {
      const k = await api.kek(page.project.id);
      setKek({ bytes: te.encode(k['key content']), name: k.file_name });
      setMode('generate');
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  const uploadWcek = async (bytes: Blob, name: string) => {
    if (!tag.trim()) throw new Error('fill in the Version Tag');
    await api.upload('wrapped-content-encryption-key', page.project.id, { name: `${page.project.name} ${page.role.toUpperCase()} WCEK`, version_tag: tag.trim(), version_description: desc }, bytes, name);
    setOk(`WCEK ${tag} uploaded.`);
    setMode('none');
    props.onChange();
  };
  return (
    <article class="card keys" aria-labelledby="h-keys">
      <h2 id="h-keys">{page.role === 'ao' ? 'Algorithm Owner' : 'Data Steward'} Keys</h2>
      <h3>Key Encryption Key</h3>
      <button type="button" onClick={download}>Download key</button>
      <h3>Wrapped Content Encryption Key</h3>
      {wceks.length ? <dl class="meta"><dt>Version Tag</dt><dd>{wceks[0].version_tag}</dd><dt>System Version</dt><dd>{wceks[0].system_version}</dd></dl> : <p class="muted">No WCEK uploaded.</p>}
      {mode === 'none' && props.active && (
        <div class="actions">
          <button type="button" onClick={() => setMode('upload')}>{wceks.length ? 'New version' : 'Upload WCEK'}</button>
          <button type="button" onClick={startGenerate}>Generate WCEK</button>
        </div>
      )}
      {mode !== 'none' && (
        <div class="subform">
          <label for="wcek-tag">Version Tag</label>
          <input id="wcek-tag" value={tag} onInput={(e) => setTag((e.currentTarget as HTMLInputElement).value)} />
          <label for="wcek-desc">Version Description</label>
          <input id="wcek-desc" value={desc} onInput={(e) => setDesc((e.currentTarget as HTMLInputElement).value)} />
          {mode === 'upload' && (
            <>
              <FileDrop id="wcek-file" label="Wrapped Content Encryption Key File" onFiles={(f) => setFile(f[0])} chosen={file?.path} />
              <div class="actions">
                <button type="button" class="primary" onClick={() => file && uploadWcek(file.data as Blob, file.path).catch((e: Error) => setErr(e.message))}>Submit</button>
                <button type="button" onClick={() => setMode('none')}>Cancel</button>
              </div>
            </>
          )}
          {mode === 'generate' && kek && (
            <>
              <WcekTool kekFile={kek} onWcek={(w, name) => uploadWcek(new Blob([w as unknown as BlobPart]), name)} />
              <button type="button" onClick={() => setMode('none')}>Cancel</button>
            </>
          )}
        </div>
      )}
      {ok && <Status kind="ok">{ok}</Status>}
      {err && <Status kind="error">{err}</Status>}
    </article>
  );
}

function ArtifactForm(props: { kind: string; page: ProjectPage; onClose: () => void; onDone: () => void }) {
  const { kind, page } = props;
  const label = KINDS.find((k) => k[0] === kind)![1];
  const endpoint = KINDS.find((k) => k[0] === kind)![3];
  const [f, setF] = useState<Record<string, string>>({ name: `${page.project.name} - ${label}`, ...(kind === 'algorithm' ? { algorithm_type: 'validation' } : {}) });
  const [file, setFile] = useState<{ data: Blob; name: string } | null>(null);
  const [err, setErr] = useState('');
  const [failedChecks, setFailedChecks] = useState<unknown>(null);
  const [ok, setOk] = useState<Version | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [encrypt, setEncrypt] = useState(false);
  const set = (k: string) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const tags = (t: string, role?: string) => page.versions.filter((v) => v.artifact_type === t && (!role || v.role === role)).map((v) => v.version_tag);
  const needsConfirm = kind === 'dataset' || kind === 'algorithm';
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr('');
    setFailedChecks(null);
    try {
      if (needsConfirm && !confirm) throw new Error('confirm that no unencrypted privacy-protected or confidential information is included');
      let v: Version;
      if (kind === 'dataset') v = await api.dataset(page.project.id, f);
      else {
        if (!file) throw new Error('add the file');
        const fields = { ...f };
        if (kind === 'algorithm') fields.upload_type = 'Upload Zip';
        v = await api.upload(endpoint, page.project.id, fields, file.data, file.name);
      }
      setOk(v);
    } catch (x) {
      setErr((x as Error).message);
      setFailedChecks(((x as ApiError).body as { checks?: unknown } | undefined)?.checks ?? null);
    }
  };
  const field = (k: string, text: string, required = false) => (
    <>
      <label for={`f-${k}`}>{text}</label>
      <input id={`f-${k}`} value={f[k] ?? ''} required={required} onInput={set(k)} />
    </>
  );
  const select = (k: string, text: string, options: string[]) => (
    <>
      <label for={`f-${k}`}>{text}</label>
      <select id={`f-${k}`} value={f[k] ?? ''} onChange={set(k)} required>
        <option value="">Choose…</option>
        {options.map((o) => <option value={o}>{o}</option>)}
      </select>
    </>
  );
  const sas = kind === 'dataset' ? sasPreview(f.dataset_uri ?? '') : null;
  return (
    <form class="card artifact-form" onSubmit={submit} aria-labelledby="form-title">
      <h2 id="form-title">New {label}</h2>
      {field('name', 'Name', true)}
      {field('description', 'Description')}
      {field('version_tag', 'Version Tag', true)}
      {field('version_description', 'Version Description')}
      {kind === 'algorithm' && (
        <>
          <fieldset><legend>Algorithm type</legend>
            <input type="radio" id="t-val" name="atype" checked={f.algorithm_type !== 'training'} onChange={() => setF({ ...f, algorithm_type: 'validation' })} /><label for="t-val">Validation</label>
            <input type="radio" id="t-train" name="atype" checked={f.algorithm_type === 'training'} disabled={!page.project.training} onChange={() => setF({ ...f, algorithm_type: 'training' })} /><label for="t-train">Training</label>
          </fieldset>
          {f.algorithm_type !== 'training' && select('validation_criteria_version', 'Validation Criteria Version', tags('validation_criteria'))}
          {select('data_attestation_version', 'Data Attestation Report Version', tags('data_attestation'))}
          <div class="actions"><button type="button" onClick={() => setEncrypt(!encrypt)}>{encrypt ? 'Upload a zip instead' : 'Encrypt algorithm'}</button></div>
          {encrypt && <AlgorithmTool projectId={page.project.id} onZip={(z, n) => { setFile({ data: z, name: n }); setEncrypt(false); }} />}
        </>
      )}
      {kind === 'dataset' && (
        <>
          {select('data_specification_version', 'Data Specification Version', tags('data_specification'))}
          {select('data_attestation_version', 'Data Attestation Report Version', tags('data_attestation', page.role))}
          <label for="f-dataset_uri">Dataset URL (container SAS URL)</label>
          <input id="f-dataset_uri" type="url" autocomplete="off" value={f.dataset_uri ?? ''} onInput={set('dataset_uri')} aria-describedby="sas-status" />
          <p id="sas-status" class={`sas-${sas?.status}`} aria-live="polite">{sas?.message}</p>
        </>
      )}
      {kind !== 'dataset' && !encrypt && (
        <FileDrop id="f-file" label={`Upload ${label} File`} accept={kind === 'algorithm' ? '.zip' : kind === 'validation_criteria' ? '.json' : undefined}
          onFiles={(fs) => setFile({ data: fs[0].data as Blob, name: fs[0].path.split('/').pop()! })} chosen={file ? `${file.name} (${bytesText(file.data.size)})` : undefined} />
      )}
      {needsConfirm && (
        <div class="check"><input type="checkbox" id="f-confirm" checked={confirm} onChange={() => setConfirm(!confirm)} /><label for="f-confirm">The {kind} does not contain any unencrypted privacy-protected or confidential information</label></div>
      )}
      <div class="actions">
        <button type="submit" class="primary">Submit</button>
        <button type="button" onClick={props.onClose}>{ok ? 'Close' : 'Cancel'}</button>
      </div>
      {err && <Status kind="error">{err}</Status>}
      {failedChecks !== null && <Checks checks={failedChecks} />}
      {ok && (
        <div role="status" class="status ok">
          <p>{label} {ok.version_tag} was added (system version {ok.system_version}).</p>
          {Array.isArray((ok.details as { upload_status?: unknown[] } | undefined)?.upload_status) && <UploadStages stages={(ok.details as { upload_status: unknown[] }).upload_status} />}
          <button type="button" onClick={props.onDone}>Back to the project</button>
        </div>
      )}
    </form>
  );
}

/** What the form can tell before submitting (the platform judges the URL on submit, DESIGN §6). */
function sasPreview(url: string): { status: string; message: string } | null {
  if (!url.trim()) return null;
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return { status: 'invalid', message: 'SAS Token Not Provided Or Invalid URI' };
  }
  const q = u.searchParams;
  if (!q.get('sig') || !q.get('se') || !q.get('sv')) return { status: 'invalid', message: 'SAS Token Not Provided Or Invalid URI' };
  if (q.get('sr') !== 'c') return { status: 'invalid', message: 'not a container SAS (sr=c)' };
  const sp = q.get('sp') ?? '';
  if (!sp.includes('r') || !sp.includes('l')) return { status: 'invalid', message: 'the SAS must allow read (r) and list (l)' };
  const se = Date.parse(q.get('se')!);
  if (isNaN(se)) return { status: 'invalid', message: 'the expiry (se) is not a date' };
  const left = se - Date.now();
  if (left <= 0) return { status: 'expired', message: 'the SAS token has expired' };
  if (left <= 24 * 3600 * 1000) return { status: 'expiring', message: 'provided sas token will expire in less than 24 hours' };
  return { status: 'valid', message: `Looks valid; expires ${new Date(se).toUTCString()}. The platform checks it on submit.` };
}
