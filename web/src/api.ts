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
  role?: 'ao' | 'ds';
  collaborators?: { org: string; role: string }[];
  initials?: string[];
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
  me: () => request<{ user: User; projects: ProjectSummary[] }>('GET', 'me/'),
  search: (q: string) => request<{ results?: unknown[] } & Record<string, unknown>>('GET', 'search/', { query: { q } }),
  project: (id: string) => request<ProjectPage>('GET', 'artifact/', { query: { project_id: id } }),
  kek: (id: string) => request<{ 'key content': string; file_name: string; role: string; project_id: string }>('GET', 'key-encryption-key-download/', { query: { project_id: id } }),
  upload: (kind: string, projectId: string, fields: Record<string, string | undefined>, file: Blob, fileName: string) =>
    request<Version>('POST', `${kind}/`, { body: form({ project_id: projectId, ...fields, file_name: file }, fileName) }),
  dataset: (projectId: string, fields: Record<string, string>) =>
    request<Version>('POST', 'dataset/', { body: form({ project_id: projectId, ...fields }) }),
  acceptCriteria: (projectId: string, tag: string) =>
    request('POST', 'validation-criteria-accept/', { body: form({ project_id: projectId, validation_criteria_version: tag }) }),
};
