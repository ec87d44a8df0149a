// The web client's files, served from the esbuild output (dist/web). Read-only and
// small: GET/HEAD only (405 for other methods on a file it has), one directory, no
// listing, no path ever leaves the root.
// A server started before `npm run build:web` still runs and says what is missing.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { ALLOW } from './http';

/** Where `npm run build:web` writes (relative to this file, so it holds for src/ under tsx and a built dist/). */
export const DEFAULT_WEB_ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '../../dist/web' : '../../web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
};

// esbuild's entryNames '[name]-[hash]': content-addressed, so they may be cached for good.
const HASHED = /-[A-Z0-9]{8}\.(js|css|map)$/;

// The page only talks to its own origin; user text is never HTML, and this is the second lock on that door.
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
  "connect-src 'self' ws: wss:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>rxchat: web client not built</title>
<body style="font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em">
<h1>The web client is not built</h1>
<p>The chat server is running (WebSocket at <code>/ws</code>), but there is no page to serve yet.
Run <code>npm run build:web</code> (or start the server with <code>npm start</code>, which builds it first), then reload.</p>
`;

/** Serves GET/HEAD requests for files under root; answers every request it is given (src/edge/http.ts leaves the method to it). */
export function createStaticHandler(root: string = DEFAULT_WEB_ROOT) {
  const base = path.resolve(root);
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> => {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname === '/' ? '/index.html' : pathname);
    } catch {
      return text(res, 400, 'bad request');
    }
    // Traversal: a NUL, a backslash or a dot-segment never names a file we serve.
    const file = path.resolve(base, `.${path.posix.normalize(rel)}`);
    if (rel.includes('\0') || rel.includes('\\') || !file.startsWith(base + path.sep) || rel.split('/').some((s) => s.startsWith('.'))) {
      return text(res, 404, 'not found');
    }
    // A file we serve (and `/`, built or not) takes GET and HEAD only: other methods get 405, not 404.
    const readOnly = req.method === 'GET' || req.method === 'HEAD';
    const isPage = file === path.join(base, 'index.html');
    let body: Buffer;
    let mtime: Date;
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile()) return text(res, 404, 'not found');
      if (!readOnly) return text(res, 405, 'method not allowed', { allow: ALLOW });
      body = await fs.readFile(file);
      mtime = stat.mtime;
    } catch {
      if (isPage && !readOnly) return text(res, 405, 'method not allowed', { allow: ALLOW });
      if (isPage) return send(res, req, 503, NOT_BUILT, 'text/html; charset=utf-8', { 'cache-control': 'no-store' });
      return text(res, 404, 'not found');
    }
    const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 27)}"`;
    const headers: Record<string, string> = {
      etag,
      'last-modified': mtime.toUTCString(),
      'cache-control': HASHED.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    };
    if (file.endsWith('.html')) {
      headers['content-security-policy'] = CSP;
      headers['referrer-policy'] = 'no-referrer';
    }
    if (req.headers['if-none-match']?.split(/\s*,\s*/).includes(etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    send(res, req, 200, body, TYPES[path.extname(file)] ?? 'application/octet-stream', headers);
  };
}

function send(
  res: ServerResponse, req: IncomingMessage, status: number, body: string | Buffer, type: string, headers: Record<string, string>,
): void {
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function text(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(message), 'cache-control': 'no-store' });
  res.end(message);
}
