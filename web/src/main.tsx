import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { api, User } from './api';
import { go, useRoute } from './router';
import { Home, Login, Project } from './ui/pages';
import { ToolPage } from './ui/tool';
import { Bell, QuickActions, RunDetails } from './ui/runs';
import { Help } from './ui/help';
import { initials } from './ui/common';

declare const __APP_VERSION__: string;

function App() {
  const route = useRoute();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [projectIds, setProjectIds] = useState<string[]>([]);
  useEffect(() => {
    if (user === null) return;
    api.me().then((m) => {
      setUser(m.user);
      setProjectIds(m.projects.map((p) => p.id));
    }, () => setUser(null));
  }, [user === null || user === undefined ? 0 : user.email]);
  useEffect(() => {
    const out = () => setUser(null);
    addEventListener('escrow:logged-out', out);
    return () => removeEventListener('escrow:logged-out', out);
  }, []);
  const [top, arg, sub, cfg, num] = route;
  const isTool = top === 'tool' || top === 'help';
  useEffect(() => {
    if (user === null && !isTool && top !== 'login') go('login');
  }, [user, top]);
  const logout = async () => {
    try {
      await api.logout();
    } finally {
      setUser(null);
      go('login');
    }
  };
  let main;
  if (top === 'help') main = <Help />;
  else if (isTool) main = <ToolPage page={arg} />;
  else if (top === 'login' || user === null) main = <Login onLogin={setUser} />;
  else if (user === undefined) main = <p>Loading…</p>;
  else if (top === 'project' && arg && sub === 'run' && cfg && num) main = <RunDetails projectId={arg} configId={cfg} runNumber={Number(num)} />;
  else if (top === 'project' && arg) main = <Project id={arg} />;
  else main = <Home />;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="banner">
        <a class="brand" href="#/">escrow</a>
        <nav aria-label="Main">
          {user && <a href="#/">Home</a>}
          <a href="#/tool/cek" aria-current={isTool ? 'page' : undefined}><svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="16" height="16"><path fill="currentColor" d="M12 2 4 5v6c0 5 3.4 9.7 8 11 4.6-1.3 8-6 8-11V5l-8-3z" /></svg> Encryption tool</a>
        </nav>
        {user && (
          <div class="user">
            <Bell projectIds={projectIds} />
            <span class="org">{user.org}</span>
            <span class="initials" title={user.email} aria-label={`Logged in as ${user.email}`}>{initials(user.email)}</span>
            <button type="button" onClick={logout}>Log out</button>
          </div>
        )}
      </header>
      <main id="main" tabIndex={-1}>{main}</main>
      {user && top !== 'project' && <QuickActions />}
      <footer>
        <span>App Version {__APP_VERSION__}</span>
      </footer>
    </>
  );
}

render(<App />, document.getElementById('app')!);
