// A `ws` server that welcomes each connection and closes it with `code` straight
// away (or after closeMs), counting connections: what a full server or a policy
// close looks like to a reconnecting client (issue 11, 7a).
import { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Type } from '../../src/core/protocol';

export async function slammingServer(code: number, closeMs = 0) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    ws.send(JSON.stringify({ ID: `id${connections}`, Content: 'welcome', SentAt: 0, Type: Type.System, Name: 'x', Rooms: ['lobby'] }));
    if (closeMs === 0) ws.close(code, 'go away');
    else setTimeout(() => ws.close(code, 'go away'), closeMs);
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
  return { url, connections: () => connections, close: () => new Promise<void>((resolve) => wss.close(() => resolve())) };
}
