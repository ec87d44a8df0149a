// src/edge/static.ts through the real server: the web client's files with their types
// and caching, 404s, no way out of the root, and a 503 page before a build.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ChatServer, startServer } from '../src/edge/server';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw request: the path is sent as written, dot-segments and all. */
function get(port: number, rawPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static web files', () => {
  let tmp: string;
  let server: ChatServer;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'rxchat-static-'));
    const root = path.join(tmp, 'web');
    mkdirSync(path.join(root, 'sub'), { recursive: true });
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>chat</title>');
    writeFileSync(path.join(root, 'app-ABCD1234.js'), 'console.log(1)');
    writeFileSync(path.join(root, 'style-ABCD1234.css'), 'body{}');
    writeFileSync(path.join(root, 'favicon.svg'), '<svg/>');
    writeFileSync(path.join(root, '.hidden'), 'no');
    writeFileSync(path.join(tmp, 'secret.txt'), 'top secret');
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', webRoot: root });
  });
  afterAll(async () => {
    await server.close(200);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves the page at / with its type, no-cache, an ETag and a CSP', async () => {
    const r = await get(server.port, '/');
    expect(r.status).toBe(200);
    expect(r.body).toContain('<title>chat</title>');
    expect(r.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    expect(r.headers.etag).toMatch(/^".+"$/);
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    const again = await get(server.port, '/', { 'if-none-match': r.headers.etag as string });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('serves hashed assets as immutable, others as no-cache, each with its content type', async () => {
    const js = await get(server.port, '/app-ABCD1234.js');
    expect(js.headers).toMatchObject({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable' });
    const css = await get(server.port, '/style-ABCD1234.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const svg = await get(server.port, '/favicon.svg');
    expect(svg.headers).toMatchObject({ 'content-type': 'image/svg+xml', 'cache-control': 'no-cache' });
    const head = await get(server.port, '/app-ABCD1234.js', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('console.log(1)'.length));
    expect(head.body).toBe('');
  });

  it.each([
    ['a missing file', '/nope.js'],
    ['a directory', '/sub'],
    ['a dot-file', '/.hidden'],
    ['a climb out of the root', '/../secret.txt'],
    ['an encoded climb', '/%2e%2e/secret.txt'],
    ['an encoded slash climb', '/sub%2f..%2f..%2fsecret.txt'],
    ['a backslash climb', '/..%5csecret.txt'],
    ['a NUL byte', '/index.html%00.js'],
  ])('answers 404 for %s', async (_what, p) => {
    const r = await get(server.port, p);
    expect(r.status).toBe(404);
    expect(r.body).not.toContain('top secret');
  });

  it('answers 400 for a path that is not valid percent-encoding', async () => {
    expect((await get(server.port, '/%E0%A4%A')).status).toBe(400);
  });

  it('keeps /healthz, and answers other methods on a file it has with 405 and Allow, on one it has not with 404', async () => {
    expect(JSON.parse((await get(server.port, '/healthz')).body)).toMatchObject({ status: 'ok' });
    for (const p of ['/', '/app-ABCD1234.js', '/healthz']) {
      const r = await get(server.port, p, {}, 'POST');
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
    expect((await get(server.port, '/nope.js', {}, 'DELETE')).status).toBe(404);
    expect((await get(server.port, '/.hidden', {}, 'PUT')).status).toBe(404);
  });

  it('runs without a build, with a 503 page saying how to build', async () => {
    const bare = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', webRoot: path.join(tmp, 'not-built') });
    try {
      const r = await get(bare.port, '/');
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.body).toContain('npm run build:web');
      expect((await get(bare.port, '/app.js')).status).toBe(404);
      expect((await get(bare.port, '/', {}, 'POST')).status).toBe(405);
    } finally {
      await bare.close(200);
    }
  });
});
