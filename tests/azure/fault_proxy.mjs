// A fault-injecting HTTP proxy on 127.0.0.1 in front of Azurite, for the retry and resume
// tests. plan(info, n) is asked for each request (n counts from 1) and returns one of
//   {kind: 'pass'}                      forward unchanged
//   {kind: 'status', code}              answer `code` (e.g. 500, 503) without forwarding
//   {kind: 'cut', after}                forward, but cut the connection after `after` body bytes
//   {kind: 'drop'}                      close the connection before answering (upload lost)
// info = {method, path, query (URLSearchParams), range, count}. Every request is logged in
// proxy.log as {method, path, comp, blockid, range, action}.
import http from 'node:http';
import { freePort } from './azurite.mjs';

export async function startFaultProxy(targetPort, plan) {
  const port = await freePort();
  const log = [];
  const sockets = new Set();
  let count = 0;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    const info = { method: req.method, path: u.pathname, query: u.searchParams, range: req.headers.range, count: ++count };
    const action = plan(info, count) || { kind: 'pass' };
    log.push({ method: req.method, path: u.pathname, comp: u.searchParams.get('comp'),
      blockid: u.searchParams.get('blockid'), range: req.headers.range || null, action: action.kind });
    if (action.kind === 'status') {
      req.resume();
      req.on('end', () => {
        res.writeHead(action.code, { 'x-ms-error-code': 'InternalError', 'content-length': '0' });
        res.end();
      });
      return;
    }
    if (action.kind === 'drop') {
      req.resume();
      req.on('end', () => req.socket.destroy());
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      if (action.kind !== 'cut') {
        ur.pipe(res);
        return;
      }
      res.flushHeaders();
      let sent = 0;
      ur.on('data', (chunk) => {
        if (sent < 0) return;
        if (sent + chunk.length >= action.after) {
          res.write(chunk.subarray(0, action.after - sent), () => {
            res.socket.destroy();
          });
          sent = -1;
          ur.destroy();
        } else {
          res.write(chunk);
          sent += chunk.length;
        }
      });
      ur.on('end', () => { if (sent >= 0) res.end(); });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port, log,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
