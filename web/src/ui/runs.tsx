// Runs (manual §13.9-§13.10, §14.7-§14.9): run configurations, run requests, the data
// steward's review, run details with Output / Performance Report / Logs / Run Parameters, the
// bell and the chat. Every run of the sandbox backend is labelled a simulated TEE.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ChatMessage, Notification, PARAM_NAME, ProjectPage, Run, RunConfiguration } from '../api';
import { fromBase64 } from '../lib/bytes';
import { save, Status } from './common';

const ACTIVE = new Set(['Run Requested', 'In Progress']);

function when(t?: number | null): string {
  return t ? new Date(t * 1000).toLocaleString() : '';
}

export function SimBadge() {
  return <span class="badge sim" title="The sandbox backend (bubblewrap, cgroups, seccomp) simulates a TEE: the host can read its memory; there is no hardware attestation">simulated TEE</span>;
}

function StatusLine(props: { run: Pick<Run, 'status' | 'stage' | 'simulated_tee' | 'reason'> }) {
  const r = props.run;
  return (
    <span class={`run-status rs-${r.status.toLowerCase().replace(/\s+/g, '-')}`}>
      {r.status}{r.stage && r.status === 'In Progress' ? ` · ${r.stage}` : r.stage && r.status === 'Failed' ? ` at ${r.stage}` : ''} {r.simulated_tee !== false && <SimBadge />}
      {r.reason ? <span class="muted"> — {r.reason}</span> : null}
    </span>
  );
}

/** The project's run configurations, for the AO (create, request) and the DS (review). */
export function RunsCard(props: { page: ProjectPage; active: boolean }) {
  const { page } = props;
  const pid = page.project.id;
  const [configs, setConfigs] = useState<RunConfiguration[] | null>(null);
  const [err, setErr] = useState('');
  const [creating, setCreating] = useState(false);
  const [requesting, setRequesting] = useState<string | null>(null);
  const load = () => api.runConfigs(pid).then((r) => setConfigs(r.run_configurations), (e: Error) => setErr(e.message));
  useEffect(() => {
    load();
  }, [pid]);
  // poll while a run is requested or in progress (status changes come from the runner)
  useEffect(() => {
    if (!configs?.some((c) => ACTIVE.has(c.status))) return;
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [configs]);
  const ao = page.role === 'ao' && props.active;
  return (
    <article class="card runs wide" aria-labelledby="h-runs">
      <h2 id="h-runs">Run Configurations</h2>
      {err && <Status kind="error">{err}</Status>}
      {configs && configs.length === 0 && <p class="muted">No run configuration yet.</p>}
      <ul class="configs">
        {configs?.map((c) => (
          <li class="config" key={c.id} data-config={c.name}>
            <div class="card-head">
              <h3>{c.name}</h3>
              <StatusLine run={{ status: c.status, stage: c.runs.length ? c.runs[c.runs.length - 1].stage : null, simulated_tee: c.simulated_tee }} />
            </div>
            <p class="muted">Algorithm {c.algorithm_version} × dataset {c.dataset_version} · {c.run_type} · {c.confidential_compute_technology}</p>
            {c.runs.length > 0 && (
              <ul class="runlist">
                {[...c.runs].reverse().map((r) => (
                  <li><a href={`#/project/${encodeURIComponent(pid)}/run/${encodeURIComponent(c.id)}/${r.run_number}`}>Run {r.run_number}</a> <StatusLine run={r} /></li>
                ))}
              </ul>
            )}
            <ReviewActions page={page} config={c} onChange={load} />
            {ao && !ACTIVE.has(c.status) && <button type="button" onClick={() => setRequesting(requesting === c.id ? null : c.id)}>Request run</button>}
            {requesting === c.id && <RunRequestForm page={page} config={c} onDone={() => { setRequesting(null); load(); }} />}
          </li>
        ))}
      </ul>
      {ao && !creating && <button type="button" onClick={() => setCreating(true)}>New run configuration</button>}
      {creating && <RunConfigForm page={page} onDone={() => { setCreating(false); load(); }} onCancel={() => setCreating(false)} />}
    </article>
  );
}

function RunConfigForm(props: { page: ProjectPage; onDone: () => void; onCancel: () => void }) {
  const { page } = props;
  const algs = page.versions.filter((v) => v.artifact_type === 'algorithm');
  const sets = page.versions.filter((v) => v.artifact_type === 'dataset');
  const [f, setF] = useState<Record<string, string>>({ name: '', description: '' });
  const [err, setErr] = useState('');
  const set = (k: string) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr('');
    try {
      const alg = algs.find((a) => a.version_tag === f.algorithm_version);
      const type = String((alg?.details as { algorithm_type?: string } | undefined)?.algorithm_type ?? (page.project.training ? 'training' : 'validation'));
      await api.createRunConfig(page.project.id, { ...f, run_type: type });
      props.onDone();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  return (
    <form class="subform" onSubmit={submit} aria-labelledby="rc-title">
      <h3 id="rc-title">New run configuration</h3>
      <label for="rc-name">Name</label>
      <input id="rc-name" required value={f.name} onInput={set('name')} />
      <label for="rc-desc">Description</label>
      <input id="rc-desc" value={f.description} onInput={set('description')} />
      <label for="rc-alg">Algorithm version</label>
      <select id="rc-alg" required value={f.algorithm_version ?? ''} onChange={set('algorithm_version')}>
        <option value="">Choose…</option>
        {algs.map((a) => <option value={a.version_tag}>{a.name} — {a.version_tag}</option>)}
      </select>
      <label for="rc-ds">Dataset version (active, non-expired SAS URL)</label>
      <select id="rc-ds" required value={f.dataset_version ?? ''} onChange={set('dataset_version')}>
        <option value="">Choose…</option>
        {sets.map((d) => {
          const st = String((d.details as { sas_status?: string } | undefined)?.sas_status ?? 'valid');
          const expired = st !== 'valid';
          return <option value={d.version_tag} disabled={expired} class={expired ? 'expired' : ''}>{d.name} — {d.version_tag}{expired ? ` (${st}: choose another version)` : ''}</option>;
        })}
      </select>
      <div class="actions">
        <button type="submit" class="primary">Save run configuration</button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
      {err && <Status kind="error">{err}</Status>}
    </form>
  );
}

const VCPUS = [1, 2, 4, 8, 16];

function RunRequestForm(props: { page: ProjectPage; config: RunConfiguration; onDone: () => void }) {
  const [vcpus, setVcpus] = useState('2');
  const [mem, setMem] = useState('8');
  const [timeout, setTimeoutMin] = useState('60');
  const [params, setParams] = useState<[string, string][]>([]);
  const [err, setErr] = useState('');
  const bad = params.map(([n]) => n !== '' && !PARAM_NAME.test(n));
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr('');
    try {
      if (bad.some(Boolean)) throw new Error('a parameter name does not match the required pattern');
      const p: Record<string, string> = {};
      for (const [n, v] of params) if (n) p[n] = v;
      await api.requestRun(props.page.project.id, {
        run_configuration: props.config.id, machine_type: `cpu-standard-${vcpus}`, algo_container_memory: mem,
        run_timeout: timeout, runtime_parameters: JSON.stringify(p),
      });
      props.onDone();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const id = props.config.id.slice(0, 8);
  return (
    <form class="subform" onSubmit={submit} aria-label={`Run request for ${props.config.name}`}>
      <h3>Run request</h3>
      <label for={`rq-cpu-${id}`}>vCPUs</label>
      <select id={`rq-cpu-${id}`} value={vcpus} onChange={(e) => setVcpus((e.currentTarget as HTMLSelectElement).value)}>
        {VCPUS.map((n) => <option value={String(n)}>{n} vCPU{n > 1 ? 's' : ''} (cpu-standard-{n})</option>)}
      </select>
      <label for={`rq-mem-${id}`}>RAM (GiB)</label>
      <input id={`rq-mem-${id}`} type="number" min="1" max="64" value={mem} onInput={(e) => setMem((e.currentTarget as HTMLInputElement).value)} />
      <label for={`rq-to-${id}`}>Run timeout (minutes)</label>
      <input id={`rq-to-${id}`} type="number" min="1" value={timeout} onInput={(e) => setTimeoutMin((e.currentTarget as HTMLInputElement).value)} />
      <fieldset>
        <legend>Runtime parameters (optional; names start with a letter, then letters and digits, segments joined by _ - or .)</legend>
        {params.map(([n, v], i) => (
          <div class="param">
            <label for={`p-n-${id}-${i}`}>Name</label>
            <input id={`p-n-${id}-${i}`} value={n} aria-invalid={bad[i] ? 'true' : undefined} aria-describedby={bad[i] ? `p-e-${id}-${i}` : undefined}
              onInput={(e) => setParams(params.map((p, k) => (k === i ? [(e.currentTarget as HTMLInputElement).value, p[1]] : p)))} />
            <label for={`p-v-${id}-${i}`}>Value</label>
            <input id={`p-v-${id}-${i}`} value={v} onInput={(e) => setParams(params.map((p, k) => (k === i ? [p[0], (e.currentTarget as HTMLInputElement).value] : p)))} />
            {bad[i] && <span id={`p-e-${id}-${i}`} class="field-error">“{n}” is not a valid parameter name</span>}
          </div>
        ))}
        <button type="button" onClick={() => setParams([...params, ['', '']])}>Add parameter</button>
      </fieldset>
      <div class="actions"><button type="submit" class="primary">Send run request</button></div>
      {err && <Status kind="error">{err}</Status>}
    </form>
  );
}

/** The data steward's review (§13.9): initiate, or reject with a reason; cancel a run in
 *  progress (§13.10.3: the data steward cancels). */
function ReviewActions(props: { page: ProjectPage; config: RunConfiguration; onChange: () => void }) {
  const { page, config } = props;
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');
  const [err, setErr] = useState('');
  const act = async (f: () => Promise<unknown>) => {
    setErr('');
    try {
      await f();
      setRejecting(false);
      props.onChange();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const ds = page.role === 'ds';
  const latest = config.runs[config.runs.length - 1];
  return (
    <div class="review">
      {ds && config.status === 'Run Requested' && latest && (
        <div class="request-summary">
          <p>Run request {latest.run_number}: {latest.vcpus} vCPUs, {latest.memory_gib} GiB RAM, by {latest.requested_by} at {when(latest.requested_at)}.
            {latest.runtime_parameters && Object.keys(latest.runtime_parameters).length > 0 && <> Parameters: {Object.entries(latest.runtime_parameters).map(([k, v]) => `${k}=${v}`).join(', ')}.</>}</p>
          <div class="actions">
            <button type="button" class="primary" onClick={() => act(() => api.initiateRun(page.project.id, config.id))}>Initiate run</button>
            <button type="button" onClick={() => setRejecting(!rejecting)}>Reject</button>
          </div>
          {rejecting && (
            <div class="subform">
              <label for={`rej-${config.id}`}>Reason for rejecting</label>
              <textarea id={`rej-${config.id}`} value={reason} onInput={(e) => setReason((e.currentTarget as HTMLTextAreaElement).value)} />
              <div class="actions"><button type="button" onClick={() => act(() => api.rejectRun(page.project.id, config.id, reason))} disabled={!reason.trim()}>Reject run request</button></div>
            </div>
          )}
        </div>
      )}
      {config.status === 'In Progress' && ds && (
        <div class="actions"><button type="button" onClick={() => act(() => api.cancelRun(page.project.id, config.id))}>Cancel run</button></div>
      )}
      {err && <Status kind="error">{err}</Status>}
    </div>
  );
}

const TABS = ['Output', 'Performance Report', 'Logs', 'Run Parameters'] as const;

/** Run details (§13.10, §14.9): status with its stage, and the four tabs. */
export function RunDetails(props: { projectId: string; configId: string; runNumber: number }) {
  const { projectId, configId, runNumber } = props;
  const [run, setRun] = useState<Run | null>(null);
  const [err, setErr] = useState('');
  const [tab, setTab] = useState<(typeof TABS)[number]>('Output');
  const tabs = useRef<HTMLDivElement>(null);
  const load = () => api.runStatus(projectId, configId, runNumber).then(setRun, (e: Error) => setErr(e.message));
  useEffect(() => {
    load();
  }, [projectId, configId, runNumber]);
  useEffect(() => {
    if (!run || !ACTIVE.has(run.status)) return;
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [run?.status, run?.stage]);
  if (err) return <Status kind="error">{err}</Status>;
  if (!run) return <p>Loading…</p>;
  const keyNav = (e: KeyboardEvent) => {
    const i = TABS.indexOf(tab);
    const n = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i + TABS.length - 1) % TABS.length : -1;
    if (n < 0) return;
    e.preventDefault();
    setTab(TABS[n]);
    (tabs.current?.querySelectorAll('[role=tab]')[n] as HTMLElement | undefined)?.focus();
  };
  return (
    <section aria-labelledby="run-title">
      <nav class="crumbs" aria-label="Breadcrumbs"><a href="#/">Home</a> › <a href={`#/project/${encodeURIComponent(projectId)}`}>Project</a> › Run {run.run_number}</nav>
      <h1 id="run-title">Run {run.run_number}: algorithm {run.algorithm_version} × dataset {run.dataset_version}</h1>
      <p class="run-head"><StatusLine run={run} /></p>
      <p class="muted">{run.tee}</p>
      <div class="tabs" role="tablist" ref={tabs} onKeyDown={keyNav}>
        {TABS.map((t) => (
          <button type="button" role="tab" id={`tab-${t}`} aria-selected={tab === t} aria-controls="tabpanel" tabIndex={tab === t ? 0 : -1} class={tab === t ? 'active' : ''} onClick={() => setTab(t)}>{t}</button>
        ))}
      </div>
      <div id="tabpanel" role="tabpanel" aria-labelledby={`tab-${tab}`} class="card">
        {tab === 'Output' && <Output projectId={projectId} run={run} />}
        {tab === 'Performance Report' && <Performance projectId={projectId} run={run} />}
        {tab === 'Logs' && <Logs projectId={projectId} run={run} />}
        {tab === 'Run Parameters' && (
          <dl class="meta">
            <dt>Machine type</dt><dd>{run.machine_type}</dd>
            <dt>vCPUs</dt><dd>{run.vcpus}</dd>
            <dt>RAM</dt><dd>{run.memory_gib} GiB</dd>
            <dt>Timeout</dt><dd>{run.run_timeout_minutes} minutes</dd>
            <dt>Requested by</dt><dd>{run.requested_by} {when(run.requested_at)}</dd>
            {run.decided_by && <><dt>Decided by</dt><dd>{run.decided_by} {when(run.decided_at)}</dd></>}
            {Object.entries(run.runtime_parameters ?? {}).map(([k, v]) => <><dt>{k}</dt><dd>{v}</dd></>)}
          </dl>
        )}
      </div>
    </section>
  );
}

function Output(props: { projectId: string; run: Run }) {
  const { run } = props;
  const [report, setReport] = useState<string | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    if (!run.has_report || run.run_number === null) return;
    api.report(props.projectId, run.run_configuration, run.run_number, 'json').then((r) => setReport(r['report content']), (e: Error) => setErr(e.message));
  }, [run.run_id, run.has_report]);
  const dl = async (format: 'json' | 'csv') => {
    try {
      const r = await api.report(props.projectId, run.run_configuration, run.run_number!, format);
      save(new Blob([r['report content']], { type: format === 'csv' ? 'text/csv' : 'application/json' }), r.file_name);
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  const model = async () => {
    try {
      const m = await api.model(props.projectId, run.run_configuration, run.run_number!);
      save(new Blob([fromBase64(m['model content']) as unknown as BlobPart]), m.file_name);
    } catch (e) {
      setErr((e as Error).message);
    }
  };
  let pretty = report;
  try {
    pretty = report ? JSON.stringify(JSON.parse(report), null, 2) : null;
  } catch {
    /* shown as it is */
  }
  return (
    <div>
      {!run.has_report && !run.has_model && <p>{ACTIVE.has(run.status) ? 'The run has not finished.' : 'This run produced no output that passed the criteria.'}</p>}
      {run.has_report && (
        <>
          <h2>{run.has_model ? 'Training report' : 'Validation report'}</h2>
          <div class="actions">
            <button type="button" onClick={() => dl('csv')}>Download CSV</button>
            <button type="button" onClick={() => dl('json')}>Download JSON</button>
          </div>
          {pretty && <pre class="report" tabIndex={0} aria-label="Report">{pretty}</pre>}
        </>
      )}
      {run.has_model && (
        <>
          <h2>Trained model</h2>
          <p>Encrypted to your CEK (BKENC v1): decrypt it with <code>escrow decrypt --cek CEK FILE -o model.zip</code>.</p>
          <button type="button" onClick={model}>Download model</button>
        </>
      )}
      {err && <Status kind="error">{err}</Status>}
    </div>
  );
}

function useLogs(projectId: string, run: Run) {
  const [logs, setLogs] = useState<Record<string, unknown>[] | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    if (run.run_number === null) return;
    api.logs(projectId, run.run_configuration, run.run_number).then((r) => setLogs(r.logs), (e: Error) => setErr(e.message));
  }, [run.run_id, run.status, run.stage]);
  return { logs, err };
}

function Logs(props: { projectId: string; run: Run }) {
  const { logs, err } = useLogs(props.projectId, props.run);
  if (err) return <Status kind="error">{err}</Status>;
  if (!logs) return <p>Loading…</p>;
  const download = () => save(new Blob([logs.map((l) => JSON.stringify(l)).join('\n') + '\n'], { type: 'application/x-ndjson' }), `run-${props.run.run_number}-logs.jsonl`);
  return (
    <div>
      <div class="actions"><button type="button" onClick={download}>Download logs</button></div>
      <ol class="logs" tabIndex={0} aria-label="Log lines">
        {logs.map((l) => (
          <li>{String(l.time ?? '')} {String(l.stage ?? '')}{' '}
            {l.source === 'mlflow' ? `MLflow ${String(l.kind)} ${String(l.key ?? l.name ?? '')}${l.value !== undefined ? ` = ${String(l.value)}` : ''}${l.step !== undefined ? ` (step ${String(l.step)})` : ''}` : String(l.message ?? JSON.stringify(l))}
          </li>
        ))}
      </ol>
    </div>
  );
}

/** Training runs: the metrics and parameters the algorithm logged through MLflow (the Enclave
 *  API relays them as log lines with source "mlflow"). */
function Performance(props: { projectId: string; run: Run }) {
  const { logs, err } = useLogs(props.projectId, props.run);
  if (err) return <Status kind="error">{err}</Status>;
  if (!logs) return <p>Loading…</p>;
  const ml = logs.filter((l) => l.source === 'mlflow');
  const metrics = ml.filter((l) => l.kind === 'metric');
  const params = ml.filter((l) => l.kind === 'param');
  if (!metrics.length && !params.length) return <p>This run logged no performance metrics.</p>;
  return (
    <div>
      {metrics.length > 0 && (
        <table>
          <caption>Metrics</caption>
          <thead><tr><th scope="col">Metric</th><th scope="col">Value</th><th scope="col">Step</th></tr></thead>
          <tbody>{metrics.map((m) => <tr><td>{String(m.key)}</td><td>{String(m.value)}</td><td>{String(m.step ?? '')}</td></tr>)}</tbody>
        </table>
      )}
      {params.length > 0 && (
        <table>
          <caption>Parameters</caption>
          <thead><tr><th scope="col">Parameter</th><th scope="col">Value</th></tr></thead>
          <tbody>{params.map((m) => <tr><td>{String(m.key)}</td><td>{String(m.value)}</td></tr>)}</tbody>
        </table>
      )}
    </div>
  );
}

// the two event types of manual §10.5.1
const KIND: Record<string, string> = { run_requested: 'Run requested', run_rejected: 'Run request rejected' };

/** The bell (§10.5): notifications of the user's projects, a dot while some are unread. */
export function Bell(props: { projectIds: string[] }) {
  const [items, setItems] = useState<(Notification & { project: string })[]>([]);
  const [open, setOpen] = useState(false);
  const [unavailable, setUnavailable] = useState(false);
  const load = async (mark = false) => {
    const all: (Notification & { project: string })[] = [];
    for (const p of props.projectIds) {
      try {
        const r = await api.notifications(p, mark);
        all.push(...r.notifications.map((n) => ({ ...n, project: p })));
      } catch {
        setUnavailable(true);
      }
    }
    all.sort((a, b) => b.created_at - a.created_at);
    setItems(all);
  };
  useEffect(() => {
    load();
  }, [props.projectIds.join(',')]);
  const unread = items.filter((n) => !n.read).length;
  const toggle = async () => {
    const next = !open;
    setOpen(next);
    if (next && unread) await load(true);
  };
  return (
    <div class="bell-wrap">
      <button type="button" class="bell" aria-expanded={open} aria-label={`Notifications${unread ? `, ${unread} unread` : ''}`} onClick={toggle}>
        <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path fill="currentColor" d="M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11a6 6 0 0 0-5-5.9V4a1 1 0 0 0-2 0v1.1A6 6 0 0 0 6 11v5l-2 2v1h16v-1l-2-2z" /></svg>
        {unread > 0 && <span class="dot-unread" aria-hidden="true" />}
      </button>
      {open && (
        <div class="bell-panel" role="region" aria-label="Notifications">
          {items.length === 0 ? <p>{unavailable ? 'Notifications are not available.' : 'No notifications in the last 48 hours.'}</p> : (
            <ul>
              {items.map((n) => (
                <li class={n.read ? '' : 'unread'}><strong>{KIND[n.kind] ?? n.kind}</strong>: {n.message} <span class="muted">{when(n.created_at)}</span>{' '}
                  <a href={`#/project/${encodeURIComponent(n.project)}`}>Open project</a></li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

/** Quick actions (§10.3, §11.2): help and the project chat with its unread count. */
export function QuickActions(props: { projectId?: string }) {
  const [open, setOpen] = useState(false);
  const [chat, setChat] = useState(false);
  const [unread, setUnread] = useState(0);
  useEffect(() => {
    if (!props.projectId) return;
    // count without marking read: the chat list marks read, so only the count is kept until opened
    api.chat(props.projectId).then((r) => setUnread(r.unread), () => setUnread(0));
  }, [props.projectId]);
  return (
    <div class="quick">
      {open && (
        <ul class="quick-menu" aria-label="Quick actions">
          <li><a href="#/help">Help</a></li>
          {props.projectId && <li><button type="button" onClick={() => { setChat(true); setOpen(false); setUnread(0); }}>Open Chat{unread ? ` (${unread} unread)` : ''}</button></li>}
        </ul>
      )}
      <button type="button" class="quick-btn" aria-expanded={open} aria-label={`Quick actions${unread ? `, ${unread} unread chat messages` : ''}`} onClick={() => setOpen(!open)}>
        ?{unread > 0 && <span class="bubble" aria-hidden="true">{unread}</span>}
      </button>
      {chat && props.projectId && <Chat projectId={props.projectId} onClose={() => setChat(false)} />}
    </div>
  );
}

function Chat(props: { projectId: string; onClose: () => void }) {
  const [msgs, setMsgs] = useState<ChatMessage[]>([]);
  const [text, setText] = useState('');
  const [err, setErr] = useState('');
  const load = () => api.chat(props.projectId).then((r) => setMsgs(r.messages), (e: Error) => setErr(e.message));
  useEffect(() => {
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [props.projectId]);
  const send = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    try {
      await api.chatPost(props.projectId, text.trim());
      setText('');
      load();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  return (
    <section class="chat card" role="dialog" aria-label="Project chat">
      <div class="card-head"><h2>Project chat</h2><button type="button" onClick={props.onClose}>Close</button></div>
      <ol class="messages" aria-live="polite">
        {msgs.map((m) => <li><strong>{m.from}</strong> <span class="muted">({m.role.toUpperCase()})</span>: {m.message}</li>)}
      </ol>
      <form onSubmit={send}>
        <label for="chat-msg">Message</label>
        <textarea id="chat-msg" value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />
        <div class="actions"><button type="submit" class="primary">Send</button></div>
      </form>
      {err && <Status kind="error">{err}</Status>}
    </section>
  );
}
