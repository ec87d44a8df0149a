// One WebSocket upgrade, and how the server answered it: the door's and auth's
// refusals come before any WebSocket opens, with a status and a reason.
import WebSocket from 'ws';
import { within } from './server-process';

export type Outcome = { status: 101 } | { status: number; body: string; headers: Record<string, string | string[] | undefined> };

/** Upgrades to `url`: 101 (the socket pushed on `sockets`, for the spec to close), or the refusal as answered. */
export function knockAt(url: string, sockets: WebSocket[], headers: Record<string, string> = {}): Promise<Outcome> {
  const ws = new WebSocket(url, { headers });
  sockets.push(ws);
  return within(new Promise<Outcome>((resolve, reject) => {
    ws.once('upgrade', () => resolve({ status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.once('error', reject);
  }), 3000, 'an answer to the upgrade');
}
