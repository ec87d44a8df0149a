// `npm start` as a user runs it: a real process, its output, and signals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { TestClient } from './support/client';
import { printed, spawnServer as run, startServerProcess, within } from './support/server-process';
import { Close } from '../src/core/protocol';
import { freePort } from '../bench/lib/spawn';

describe('the server process', () => {
  it('prints where it listens, and on SIGTERM tells clients, closes them with 1001 and exits 0 within 5 s', async () => {
    const { child, output, exited } = run(['--port', '0', '--host', '127.0.0.1']);
    try {
      const url = await printed(output, /listening on (ws:\/\/\S+:\d+\/ws)/);
      expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
      const c = await TestClient.connect(url, { name: 'alice' });
      await printed(output, /"event":"connect".*"name":"alice"/, 3000);
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await c.next((m) => m.Type === 0)).toMatchObject({ Content: 'server shutting down' });
      expect(await c.closed()).toBe(Close.GoingAway);
      expect(await within(exited, 5000, 'exit')).toBe(0);
      expect(Date.now() - sent).toBeLessThan(5000);
    } finally {
      child.kill('SIGKILL');
    }
  }, 20_000);

  it('under a flood of frames, SIGTERM still ends it cleanly, with code 0, within 5 s (issue 11, 4b)', async () => {
    // A big --max-buffered: the flooders are not to be dropped as slow readers of their acks.
    const server = await startServerProcess(['--max-buffered', String(256 << 20)]);
    const flooders: WebSocket[] = [];
    try {
      const line = JSON.stringify({ Type: 1, Content: 'x'.repeat(500) });
      for (let i = 0; i < 4; i++) {
        const ws = new WebSocket(`${server.url}?room=flood${i}`);
        ws.on('error', () => undefined);
        await within(new Promise((r) => ws.once('message', r)), 5000, 'welcome');
        flooders.push(ws);
      }
      // As fast as each can, bounded: 100 frames a turn while its own send buffer is under 1 MiB, for 10 s at most.
      const until = Date.now() + 10_000;
      const pump = (ws: WebSocket) => {
        if (ws.readyState !== WebSocket.OPEN || Date.now() > until) return;
        if (ws.bufferedAmount < 1 << 20) for (let i = 0; i < 100; i++) ws.send(line);
        setImmediate(pump, ws);
      };
      flooders.forEach(pump);
      await new Promise((r) => setTimeout(r, 1500));
      const sent = Date.now();
      expect(await server.stop(5000)).toBe(0);
      expect(Date.now() - sent).toBeLessThan(5000);
      // Ended by close() resolving, not by the hard-stop timer.
      expect(server.output()).toContain('"event":"stopped"');
    } finally {
      flooders.forEach((ws) => ws.terminate());
      server.child.kill('SIGKILL');
    }
  }, 30_000);

  it('prints help', async () => {
    const { output, exited } = run(['--help']);
    expect(await within(exited, 10_000, 'exit')).toBe(0);
    expect(output()).toContain('--heartbeat-interval');
  }, 15_000);

  // issue 8, 8 and issue 9, 6: a start that cannot work says why in one line and exits 2, without a stack.
  it.each([
    ['not a URL', 'redis//127.0.0.1', /^cannot start: bad Redis URL redis\/\/127\.0\.0\.1: not a URL/],
    ['another scheme', 'http://127.0.0.1:6379/0', /^cannot start: bad Redis URL http:\/\/127\.0\.0\.1:6379\/0: the scheme must be redis: or rediss:/],
    ['a database that is not a number', 'redis://127.0.0.1:6379/lobby', /^cannot start: bad Redis URL .*: the database must be a number/],
    ['a password, which is not printed', 'redis://:hunter2@127.0.0.1:6379/x', /^cannot start: bad Redis URL redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/x: /],
  ])('refuses a bad Redis URL (%s) at once: one line, exit code 2', async (_, url, line) => {
    const { output, exited } = run(['--port', '0', '--redis', url]);
    expect(await within(exited, 10_000, 'exit')).toBe(2);
    expect(output().trimEnd().split('\n')).toEqual([expect.stringMatching(line)]);
    expect(output()).not.toContain('hunter2');
  }, 15_000);

  it('gives up on a Redis that does not answer after 10 s of retries: one line naming it, exit code 2', async () => {
    const port = await freePort(); // nothing listens there
    const started = Date.now();
    const { output, exited } = run(['--port', '0', '--redis', `redis://127.0.0.1:${port}/0`]);
    expect(await within(exited, 20_000, 'exit')).toBe(2);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(9_500);
    expect(took).toBeLessThan(15_000);
    expect(output().trimEnd().split('\n')).toEqual([
      `cannot start: cannot use Redis at redis://127.0.0.1:${port}/0: connect ECONNREFUSED 127.0.0.1:${port} (no answer within 10000 ms)`,
    ]);
  }, 25_000);

  it.each([
    [['--port', 'x'], 'cannot start: --port: expected a whole number from 0 to 65535, got "x" (--help lists the flags)'],
    [['--max-connections', 'lots'], 'cannot start: --max-connections: expected a whole number from 0 to 2147483647, got "lots" (--help lists the flags)'],
    [['--allowed-origins', 'evil.example'], expect.stringMatching(/^cannot start: --allowed-origins: expected origins such as .*got "evil.example"/)],
    [['--auth-public-key', '/nonexistent/key.pem'], 'cannot start: --auth-public-key: cannot read /nonexistent/key.pem: ENOENT'],
    [['--nope'], expect.stringMatching(/^cannot start: Unknown option '--nope'.* \(--help lists the flags\)$/)],
  ])('refuses a bad flag %j naming it: one line, exit code 2', async (argv, line) => {
    const { output, exited } = run(argv);
    expect(await within(exited, 10_000, 'exit')).toBe(2);
    expect(output().trimEnd().split('\n')).toEqual([line]);
  }, 15_000);

  it('refuses a port in use: one line saying so, exit code 2', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const { output, exited } = run(['--port', String(port), '--host', '127.0.0.1', '--store', 'memory']);
      expect(await within(exited, 10_000, 'exit')).toBe(2);
      expect(output().trimEnd().split('\n')).toEqual([`cannot start: port ${port} is in use; try --port`]);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  }, 15_000);

  it('refuses a data directory it cannot use: one line naming it, exit code 2', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rxchat-spec-'));
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    try {
      const { output, exited } = run(['--port', '0', '--data', file]);
      expect(await within(exited, 10_000, 'exit')).toBe(2);
      expect(output().trimEnd().split('\n')).toEqual([expect.stringMatching(new RegExp(`^cannot start: cannot use data directory ${file}: `))]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);
});
