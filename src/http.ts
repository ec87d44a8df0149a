// Plain HTTP beside the WebSocket endpoint: the health check and the web client's files.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HttpDeps {
  health: () => { connections: number; rooms: number; uptime: number };
  /** The web client (src/static.ts): answers any other GET/HEAD, `/` being its page. */
  web?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;
}

export function handleHttp(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): void {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
    return json(res, 200, { status: 'ok', ...deps.health() });
  }
  if (deps.web && (req.method === 'GET' || req.method === 'HEAD')) {
    deps.web(req, res, path).catch(() => (res.headersSent ? res.destroy() : json(res, 500, { error: 'internal error' })));
    return;
  }
  json(res, 404, { error: 'not found' });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(data),
    'cache-control': 'no-store',
  });
  res.end(data);
}
