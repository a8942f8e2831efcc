// The escrowd Platform API as the dashboard uses it (docs/openapi.yaml): a login cookie
// (escrow_session) plus the CSRF token the login answer gives, sent on every unsafe request.

export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly body?: unknown) {
    super(message);
  }
}

export interface User {
  email: string;
  org: string;
  operator?: boolean;
}

export interface ProjectSummary {
  id: string;
  name: string;
  description?: string;
  created?: number | string;
  state?: string;
  training?: boolean;
  tee?: string;
  simulated_tee?: boolean;
  role?: 'ao' | 'ds' | null;
  collaborators?: { org_id?: string; org: string; role: string }[];
  members?: { email: string; org_id?: string; initials: string }[];
}

export interface SearchHit {
  project_id: string;
  project_name: string;
  type: string;
  name: string;
  description?: string;
  version_tag?: string;
  version_description?: string;
  created?: number;
}

export interface Version {
  id: string;
  project_id: string;
  artifact_type: string;
  role: 'ao' | 'ds';
  name: string;
  description?: string;
  version_tag: string;
  version_description?: string;
  system_version: number;
  created_at?: number;
  sha256?: string;
  file_name?: string;
  details?: Record<string, unknown>;
}

export interface ProjectPage {
  project: { id: string; name: string; description?: string; tee?: string; state?: string; training?: boolean; simulated_tee?: boolean };
  role: 'ao' | 'ds';
  versions: Version[];
}

export interface Run {
  run_id: string;
  run_configuration: string;
  algorithm_version: string;
  dataset_version: string;
  run_number: number | null;
  status: string;
  stage: string | null;
  reason?: string | null;
  machine_type?: string;
  vcpus?: number;
  memory_gib?: number;
  run_timeout_minutes?: number;
  runtime_parameters?: Record<string, string>;
  requested_by?: string;
  decided_by?: string | null;
  requested_at?: number;
  decided_at?: number;
  ended_at?: number;
  cancel_requested?: boolean;
  simulated_tee?: boolean;
  tee?: string;
  has_report?: boolean;
  has_model?: boolean;
  certificate?: unknown;
}

export interface RunConfiguration {
  id: string;
  project_id: string;
  name: string;
  description?: string;
  run_type: string;
  algorithm_version: string;
  dataset_version: string;
  data_steward_org_id?: string;
  confidential_compute_technology?: string;
  status: string;
  simulated_tee?: boolean;
  created_at?: number;
  run_requested?: boolean;
  runs: Run[];
}

export interface Notification {
  id: number;
  kind: string;
  message: string;
  run_id?: string;
  created_at: number;
  read: boolean;
}

export interface ChatMessage {
  seq: number;
  from: string;
  role: string;
  message: string;
  created_at?: number;
  unread?: boolean;
}

/** The manual's runtime parameter names (§14.7.5). */
export const PARAM_NAME = /^[a-zA-Z][a-zA-Z0-9]*([_\-.][a-zA-Z0-9]+)*$/;

const CSRF_KEY = 'escrow.csrf';

function csrf(): string | null {
  try {
    return sessionStorage.getItem(CSRF_KEY);
  } catch {
    return null;
  }
}

async function request<T>(method: string, path: string, opts: { query?: Record<string, string>; body?: BodyInit; json?: unknown } = {}): Promise<T> {
  const q = opts.query ? `?${new URLSearchParams(opts.query)}` : '';
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const token = csrf();
  if (method !== 'GET' && token) headers['X-CSRF-Token'] = token;
  let r: Response;
  try {
    r = await fetch(`api/v1/${path}${q}`, { method, headers, body, credentials: 'same-origin' });
  } catch {
    throw new ApiError('the platform cannot be reached; check your connection', 0);
  }
  const text = await r.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (r.status === 401 && path !== 'login/' && path !== 'me/') {
    // the session ended (expired or logged out elsewhere): the app returns to the login page
    sessionStorage.removeItem(CSRF_KEY);
    dispatchEvent(new Event('escrow:logged-out'));
  }
  if (!r.ok) {
    const msg = (data as { error?: string } | undefined)?.error ?? `the platform answered HTTP ${r.status}`;
    throw new ApiError(msg, r.status, data);
  }
  return data as T;
}

function form(fields: Record<string, string | Blob | undefined>, fileName?: string): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (v instanceof Blob) f.append(k, v, fileName ?? (v instanceof File ? v.name : 'upload'));
    else f.append(k, v);
  }
  return f;
}

export const api = {
  async login(email: string, password: string): Promise<User> {
    const r = await request<{ csrf_token: string; user: User }>('POST', 'login/', { json: { email, password } });
    sessionStorage.setItem(CSRF_KEY, r.csrf_token);
    return r.user;
  },
  async logout(): Promise<void> {
    try {
      await request('POST', 'logout/');
    } finally {
      sessionStorage.removeItem(CSRF_KEY);
    }
  },
  /** The user and their projects; a web session's answer also carries its CSRF token. */
  async me(): Promise<{ user: User; initials?: string; projects: ProjectSummary[] }> {
    const r = await request<{ user: User; initials?: string; projects: ProjectSummary[]; csrf_token?: string }>('GET', 'me/');
    if (r.csrf_token) sessionStorage.setItem(CSRF_KEY, r.csrf_token);
    return r;
  },
  search: (q: string) => request<{ query: string; results: SearchHit[] }>('GET', 'search/', { query: { q } }),
  project: (id: string) => request<ProjectPage>('GET', 'artifact/', { query: { project_id: id } }),
  kek: (id: string) => request<{ 'key content': string; file_name: string; role: string; project_id: string }>('GET', 'key-encryption-key-download/', { query: { project_id: id } }),
  upload: (kind: string, projectId: string, fields: Record<string, string | undefined>, file: Blob, fileName: string) =>
    request<Version>('POST', `${kind}/`, { body: form({ project_id: projectId, ...fields, file_name: file }, fileName) }),
  dataset: (projectId: string, fields: Record<string, string>) =>
    request<Version>('POST', 'dataset/', { body: form({ project_id: projectId, ...fields }) }),
  runConfigs: (projectId: string) => request<{ run_configurations: RunConfiguration[] }>('GET', 'run-configuration/', { query: { project_id: projectId } }),
  createRunConfig: (projectId: string, fields: Record<string, string>) =>
    request<RunConfiguration>('POST', 'run-configuration/', { body: form({ project_id: projectId, ...fields }) }),
  requestRun: (projectId: string, fields: Record<string, string>) => request<Run>('POST', 'run-request/', { body: form({ project_id: projectId, ...fields }) }),
  initiateRun: (projectId: string, config: string) => request<Run>('POST', 'initiate-run/', { body: form({ project_id: projectId, run_configuration: config }) }),
  rejectRun: (projectId: string, config: string, reason: string) =>
    request<Run>('POST', 'run-reject/', { body: form({ project_id: projectId, run_configuration: config, reason }) }),
  cancelRun: (projectId: string, config: string) => request<Run>('POST', 'run-cancel/', { body: form({ project_id: projectId, run_configuration: config }) }),
  runStatus: (projectId: string, config: string, runNumber?: number) =>
    request<Run>('GET', 'run-status/', { query: { project_id: projectId, run_configuration: config, ...(runNumber ? { run_number: String(runNumber) } : {}) } }),
  report: (projectId: string, config: string, runNumber: number, format: 'json' | 'csv') =>
    request<{ 'report content': string; file_name: string; format: string }>('GET', 'report-download/', { query: { project_id: projectId, run_configuration: config, run_number: String(runNumber), format } }),
  model: (projectId: string, config: string, runNumber: number) =>
    request<{ 'model content': string; file_name: string; sha256: string }>('GET', 'model-download/', { query: { project_id: projectId, run_configuration: config, run_number: String(runNumber) } }),
  logs: (projectId: string, config: string, runNumber: number) =>
    request<{ logs: Record<string, unknown>[]; status: string; stage: string | null }>('GET', 'log-download/', { query: { project_id: projectId, run_configuration: config, run_number: String(runNumber) } }),
  notifications: (projectId: string, markRead = false) =>
    request<{ notifications: Notification[]; unread: number }>('GET', 'notifications/', { query: { project_id: projectId, ...(markRead ? { mark_read: 'true' } : {}) } }),
  chat: (projectId: string) => request<{ messages: ChatMessage[]; unread: number }>('GET', 'chat/', { query: { project_id: projectId } }),
  chatPost: (projectId: string, message: string) => request<ChatMessage>('POST', 'chat/', { body: form({ project_id: projectId, message }) }),
  acceptCriteria: (projectId: string, tag: string) =>
    request('POST', 'validation-criteria-accept/', { body: form({ project_id: projectId, validation_criteria_version: tag }) }),
};
