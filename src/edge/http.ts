// Plain HTTP beside the WebSocket endpoint: the health check and the web client's files,
// and the answers to requests that are not what a browser sends.
import { type IncomingMessage, STATUS_CODES, type ServerResponse } from 'node:http';

export interface HttpDeps {
  /** `down`: why the server cannot take lines now (several processes: its Redis link is down); /healthz then answers 503. */
  health: () => { connections: number; rooms: number; uptime: number; down?: string };
  /** The web client (src/edge/static.ts): answers any other path, `/` being its page. */
  web?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;
  /** `GET /metrics` (src/ops/metrics.ts); absent: --metrics off, or served on a listener of its own. */
  metrics?: () => Promise<{ body: string; contentType: string }>;
}

export interface Target {
  /** As sent: not decoded, dot-segments kept (src/edge/static.ts decodes and checks its own). */
  path: string;
  query: URLSearchParams;
}

/**
 * The path and query of a request target, or undefined when it is not one we take:
 * origin-form (`/path?query`, RFC 9112 3.2.1) or absolute-form (`http://host/path`).
 * Never throws: `new URL(target, base)` does on `//[` or `//x:99999/ws`, which it reads
 * as an authority, and a throw in a request handler ends the process (issue 11, 1a).
 */
export function parseTarget(target: string | undefined): Target | undefined {
  if (target === undefined) return undefined;
  if (target.startsWith('/') && !target.startsWith('//')) {
    const q = target.indexOf('?');
    return q < 0
      ? { path: target, query: new URLSearchParams() }
      : { path: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
  }
  if (/^https?:\/\//i.test(target) && URL.canParse(target)) {
    const url = new URL(target);
    return { path: url.pathname, query: url.searchParams };
  }
  return undefined;
}

/** The methods every path we serve takes; anything else on such a path is a 405. */
export const ALLOW = 'GET, HEAD';
const readOnly = (req: IncomingMessage) => req.method === 'GET' || req.method === 'HEAD';

export function handleHttp(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): void {
  const target = parseTarget(req.url);
  if (!target) return json(res, 400, { error: 'bad request target' });
  const { path } = target;
  if (path === '/healthz' || path === '/ws') {
    if (!readOnly(req)) return json(res, 405, { error: 'method not allowed' }, { allow: ALLOW });
    // RFC 9110 15.5.22: /ws speaks only WebSocket, and says so.
    if (path === '/ws') return json(res, 426, { error: 'WebSocket upgrade required' }, { upgrade: 'websocket' });
    const { down, ...counts } = deps.health();
    // docs/scaling.md "Redis goes away": a load balancer sends new clients elsewhere while this node cannot keep lines.
    if (down !== undefined) return json(res, 503, { status: 'unavailable', reason: down, ...counts });
    return json(res, 200, { status: 'ok', ...counts });
  }
  if (path === '/metrics' && deps.metrics) return serveMetrics(req, res, deps.metrics);
  if (deps.web) {
    deps.web(req, res, path).catch(() => (res.headersSent ? res.destroy() : json(res, 500, { error: 'internal error' })));
    return;
  }
  json(res, 404, { error: 'not found' });
}

/** The Prometheus text format; GET and HEAD only. */
export function serveMetrics(req: IncomingMessage, res: ServerResponse, scrape: NonNullable<HttpDeps['metrics']>): void {
  if (!readOnly(req)) return json(res, 405, { error: 'method not allowed' }, { allow: ALLOW });
  scrape().then(({ body, contentType }) => {
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }, () => (res.headersSent ? res.destroy() : json(res, 500, { error: 'internal error' })));
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(data),
    'cache-control': 'no-store',
  });
  res.end(data);
}

/**
 * What Node itself writes on a socket whose request it could not parse, when no
 * 'clientError' listener is set: 431 for headers over the limit, 400 otherwise.
 * Undefined for a peer that is gone (ECONNRESET): there is no one to tell.
 */
export function clientErrorResponse(code: string | undefined): string | undefined {
  switch (code) {
    case 'ECONNRESET':
      return undefined;
    case 'HPE_HEADER_OVERFLOW':
      return rawResponse(431);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return rawResponse(413);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return rawResponse(408);
    default:
      return rawResponse(400);
  }
}

/**
 * A whole response for a raw socket (an upgrade we refuse, a request Node could not parse); the connection
 * closes after it. The body is one line saying why (the status's reason phrase unless given).
 */
export function rawResponse(status: number, headers: Record<string, string> = {}, body?: string): string {
  const reason = STATUS_CODES[status] ?? 'Error';
  const text = body ?? reason;
  const lines = Object.entries({ ...headers, Connection: 'close', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  return `HTTP/1.1 ${status} ${reason}\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${text}`;
}
