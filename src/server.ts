// The shell: an HTTP server with the WebSocket endpoint at /ws, wired to the hub.
// Sockets become connection streams, the streams merge into the hub, and the
// runner carries out what the hub decides.
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Subject, asapScheduler, merge, observeOn } from 'rxjs';
import { nanoid } from 'nanoid';
import { WebSocketServer } from 'ws';
import { Config, DEFAULTS } from './config';
import { connection$ } from './connection';
import { Liveness, heartbeat$ } from './heartbeat';
import { HubEvent, closed, shutdownRequested } from './events';
import { hub$, mergeConnections } from './hub';
import { HubState, initialState } from './reducer';
import { Runner } from './runner';
import { Logger, createLogger } from './log';
import { handleHttp } from './http';
import { createStaticHandler } from './static';

export interface ChatServer {
  readonly port: number;
  /** ws://HOST:PORT/ws with the real port. */
  readonly url: string;
  /** The hub's latest state (read-only; for health checks and tests). */
  state(): HubState;
  /** Tells every client, closes them with 1001, and stops listening. Resolves when all are gone. */
  close(graceMs?: number): Promise<void>;
}

export interface ServerOptions extends Partial<Config> {
  log?: Logger;
  /** The built web client to serve at `/` (default dist/web; see src/static.ts). */
  webRoot?: string;
}

export async function startServer(options: ServerOptions = {}): Promise<ChatServer> {
  const config: Config = { ...DEFAULTS, ...options };
  const log = options.log ?? createLogger(config.logLevel);
  const started = Date.now();
  let latest: HubState = initialState({ presenceMax: config.presenceMax });

  const connections$ = new Subject<ReturnType<typeof connection$>>();
  const feedback$ = new Subject<HubEvent>();
  const runner = new Runner({
    maxBuffered: config.maxBuffered,
    log,
    onDropped: (id, reason) => feedback$.next(closed(id, Date.now(), reason)),
  });

  const liveness = new Liveness();
  const events$ = merge(
    mergeConnections(connections$),
    heartbeat$(liveness, { intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs }),
    // Events the runner feeds back arrive on a later tick, never in the middle of a step's effects.
    feedback$.pipe(observeOn(asapScheduler)),
  );
  const subscription = hub$(events$, latest).subscribe((step) => {
    latest = step.state;
    runner.run(step.effects);
  });

  const web = createStaticHandler(options.webRoot);
  const httpServer = http.createServer((req, res) =>
    handleHttp(req, res, {
      health: () => ({ connections: latest.clients.size, rooms: latest.rooms.size, uptime: (Date.now() - started) / 1000 }),
      web,
    }));
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, clientTracking: false });

  httpServer.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const id = nanoid();
      runner.register(id, ws);
      const query = {
        name: url.searchParams.get('name') ?? undefined,
        room: url.searchParams.get('room') ?? undefined,
      };
      connections$.next(connection$(id, query, ws, { newId: nanoid, liveness }));
    });
  });
  // A client that breaks the HTTP layer harms only itself.
  httpServer.on('clientError', (_e, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;

  let closing: Promise<void> | undefined;
  const close = (graceMs = 4000): Promise<void> => {
    closing ??= (async () => {
      feedback$.next(shutdownRequested(Date.now()));
      const deadline = Date.now() + graceMs;
      // Bounded: clients get graceMs to finish the closing handshake, then are cut.
      while (runner.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      runner.terminateAll();
      const stopped = new Promise<void>((r) => httpServer.close(() => r()));
      httpServer.closeAllConnections();
      await stopped;
      subscription.unsubscribe();
      connections$.complete();
    })();
    return closing;
  };

  return { port, url: `ws://${shownHost}:${port}/ws`, state: () => latest, close };
}
