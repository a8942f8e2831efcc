import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { api, ApiError, User } from './api';
import { go, useRoute } from './router';
import { Home, Login, Project } from './ui/pages';
import { ToolPage } from './ui/tool';
import { initials } from './ui/common';

declare const __APP_VERSION__: string;

function App() {
  const route = useRoute();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  useEffect(() => {
    api.me().then((m) => setUser(m.user), (e) => setUser(e instanceof ApiError && e.status === 401 ? null : null));
  }, []);
  const [top, arg] = route;
  const isTool = top === 'tool';
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
  if (isTool) main = <ToolPage page={arg} />;
  else if (top === 'login' || user === null) main = <Login onLogin={setUser} />;
  else if (user === undefined) main = <p>Loading…</p>;
  else if (top === 'project' && arg) main = <Project id={arg} />;
  else main = <Home />;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="banner">
        <a class="brand" href="#/">escrow</a>
        <nav aria-label="Main">
          {user && <a href="#/">Home</a>}
          <a href="#/tool/cek" aria-current={isTool ? 'page' : undefined}><span aria-hidden="true">🛡</span> Encryption tool</a>
        </nav>
        {user && (
          <div class="user">
            <span class="org">{user.org}</span>
            <span class="initials" title={user.email} aria-label={`Logged in as ${user.email}`}>{initials(user.email)}</span>
            <button type="button" onClick={logout}>Log out</button>
          </div>
        )}
      </header>
      <main id="main" tabIndex={-1}>{main}</main>
      <footer>
        <span>App Version {__APP_VERSION__}</span>
      </footer>
    </>
  );
}

render(<App />, document.getElementById('app')!);
