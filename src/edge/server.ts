// The shell: an HTTP server with the WebSocket endpoint at /ws, wired to the hub.
// Sockets become connection streams, the streams merge into the hub, and the
// runner carries out what the hub decides.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Subject, asapScheduler, merge, observeOn } from 'rxjs';
import { nanoid } from 'nanoid';
import { WebSocketServer } from 'ws';
import { Config, DEFAULTS } from '../ops/config';
import { connection$ } from './connection';
import { liveness as livenessOn, pings$ } from './heartbeat';
import { HubEvent, closed, cutHeard, directHeard, heard, linkUp, presenceHeard, shutdownRequested } from '../core/events';
import type * as Bus from '../cluster/bus';
import type * as Sessions from '../cluster/sessions';
import type * as SessionRunners from '../cluster/session-runner';
import type * as Presence from '../cluster/presence';
import type * as PresenceRunnerModule from '../cluster/presence-runner';
import type { PresenceLike } from '../cluster/presence-runner';
import { Limits } from '../core/protocol';
import { hub$, mergeConnections, safeStep } from './hub';
import { HubState, initialState } from '../core/reducer';
import { rateLimit } from '../core/rate';
import { Runner, Seat } from './runner';
import { Logger, createLogger } from '../ops/logger';
import { clientErrorResponse, handleHttp, parseTarget, rawResponse, serveMetrics } from './http';
import { createStaticHandler } from './static';
import { Door, REFUSALS, Refusal } from './door';
import { Auth, Claims, tokenOf, userOf } from './auth';
import type { MessageLog } from '../store/log';
import { MemoryLog } from '../store/memory';
import { StoreRunner } from '../store/runner';
import type * as MetricsModule from '../ops/metrics';

/** A connection's resume secret: 24 random bytes, 32 characters of base64url (TOKEN_PATTERN); the hub makes the client's token of it (reducer.ts resumeToken). */
const newToken = (): string => randomBytes(24).toString('base64url');

export interface ChatServer {
  readonly port: number;
  /** ws://HOST:PORT/ws with the real port. */
  readonly url: string;
  /** The hub's latest state (read-only; for health checks and tests). */
  state(): HubState;
  /** This process's name among several (--node-id, or a random one); '' with one process. */
  readonly nodeId: string;
  /** http://HOST:PORT/metrics where /metrics is served (--metrics-port, or the main port); '' with --metrics off. */
  readonly metricsUrl: string;
  /** Tells every client, closes them with 1001, and stops listening. Resolves when all are gone. */
  close(graceMs?: number): Promise<void>;
  /** The door at the upgrade (src/edge/door.ts): its refusals by reason, and the connections it let in. */
  readonly door: Pick<Door, 'refused' | 'connections' | 'tracked'>;
}

export interface ServerOptions extends Partial<Config> {
  log?: Logger;
  /** The built web client to serve at `/` (default dist/web; see src/edge/static.ts). */
  webRoot?: string;
  /**
   * The message log (default: a new in-memory one with the configured retention).
   * The server closes it when it closes.
   */
  messages?: MessageLog;
  /**
   * Several processes: presence across nodes (default with --redis: a RedisPresence on it, with
   * its default timings). The server closes it when it closes (leaving every member). Specs pass
   * one with short timings, and kill it to play a node that dies.
   */
  presence?: PresenceLike & { close(): Promise<void> };
  /** With auth on: how long after its token expires a connection has to send a Refresh (default 30 s). For specs, not a flag. */
  refreshGraceMs?: number;
  /** How often presence beats and sweeps (ms; default presence-runner.ts EVERY_MS). For specs, not a flag. */
  presenceEveryMs?: number;
}

export async function startServer(options: ServerOptions = {}): Promise<ChatServer> {
  const config: Config = { ...DEFAULTS, ...options };
  const log = options.log ?? createLogger(config.logLevel);
  const started = Date.now();
  // First: a bad --allowed-origins from a caller that did not parse flags throws before anything is opened.
  const door = new Door({ ...config, log });
  // Likewise an unreadable --auth-public-key (AuthConfigError: main.ts says so in one line, exit 2).
  const auth = Auth.fromOptions(config);
  // Several processes (docs/scaling.md): lines are heard on Redis, each room while it has members here.
  const nodeId = config.redis === '' ? '' : config.nodeId || `node-${nanoid(8)}`;
  const heard$ = new Subject<HubEvent | readonly HubEvent[]>();
  // What the bus hears in one read of its socket (ioredis decodes every message of a chunk at once) goes to the hub
  // as one batch, stepped in order in one trip through the stream and the runner, as the log's outcomes do; every
  // kind of bus event goes through here, so their order is the order heard.
  let hearing: HubEvent[] = [];
  const flushHeard = (): void => {
    const batch = hearing;
    hearing = [];
    heard$.next(batch.length === 1 ? batch[0] : batch);
  };
  const hear = (e: HubEvent): void => {
    if (hearing.push(e) === 1) queueMicrotask(flushHeard);
  };
  /** Why the bus cannot hear other nodes' lines now (its Redis link is down), for /healthz. */
  let busDown: string | undefined;
  // Loaded only with --redis: ioredis is resident memory a one-process server never uses (issue 12).
  const bus = config.redis === '' ? undefined : await (require('../cluster/bus') as typeof Bus).RoomBus.connect(config.redis, {
    prefix: config.redisPrefix,
    nodeId,
    onLine: (line) => hear(heard(line, Date.now())),
    onLink: (up, reason) => {
      busDown = up ? undefined : `the bus's Redis link is down: ${reason ?? 'connection lost'}`;
      log(up ? 'info' : 'warn', up ? 'bus_up' : 'bus_down', { reason });
      if (up) hear(linkUp(Date.now()));
    },
    onPresence: (event) => hear(presenceHeard(event, Date.now())),
    onBadPayload: (channel, why) => log('warn', 'bad_payload', { channel, why }),
    // What other nodes send this one: Directs to its identities, and cuts of the ones resumed elsewhere.
    onNodeMessage: (m) => hear(m.kind === 'direct' ? directHeard(m.to, m.message, Date.now(), m.user) : cutHeard(m.id, m.token, m.by, Date.now())),
  });
  // Several processes: identities (resume tokens, away mailboxes) are kept in Redis (src/cluster/sessions.ts).
  const sessioned$ = new Subject<HubEvent>();
  let sessions: Sessions.RedisSessions | undefined;
  let sessionRunner: SessionRunners.SessionRunner | undefined;
  if (bus !== undefined) {
    const liveTtlMs = 30_000;
    try {
      sessions = await (require('../cluster/sessions') as typeof Sessions).RedisSessions.connect(config.redis, {
        nodeId,
        prefix: config.redisPrefix,
        liveTtlMs,
        // With no resuming (0) nothing is parked; the window still sizes the mailbox budget's buckets.
        resumeWindowMs: config.resumeWindowMs > 0 ? config.resumeWindowMs : DEFAULTS.resumeWindowMs,
      });
    } catch (e) {
      await bus.close();
      throw e;
    }
    const { SessionRunner } = require('../cluster/session-runner') as typeof SessionRunners;
    sessionRunner = new SessionRunner(sessions, (e) => sessioned$.next(e), { log, beatMs: liveTtlMs / 3 });
  }
  // Presence across nodes, likewise only with --redis (docs/scaling.md "Presence across nodes").
  const presence = bus === undefined ? undefined : options.presence
    ?? await (require('../cluster/presence') as typeof Presence).RedisPresence.connect(config.redis, { nodeId, prefix: config.redisPrefix })
      .catch(async (e: unknown) => {
        await sessions?.close();
        await bus.close();
        throw e;
      });
  let latest: HubState = initialState({
    cluster: bus !== undefined,
    presenceMax: config.presenceMax,
    resumeWindowMs: config.resumeWindowMs,
    // Under the runner's hard bound for one reader (8 × --max-buffered): a replay never gets its own reader dropped.
    maxReplayBytes: Math.min(Limits.maxReplayBytes, 4 * config.maxBuffered),
    maxRoomMembers: config.maxRoomMembers,
    refreshGraceMs: options.refreshGraceMs,
  });
  // protocol.md "Message rate": one bucket per connection, kept by its connection$ (no timer).
  const rate = rateLimit(config.msgRate, config.msgBurst);

  // GET /metrics (src/ops/metrics.ts), counted at the edge. Loaded only when on: prom-client is memory a server without it never uses.
  const metrics = config.metrics === 'off' ? undefined : new (require('../ops/metrics') as typeof MetricsModule).Metrics({
    connections: () => latest.clients.size,
    rooms: () => latest.rooms.size,
    links: bus === undefined ? undefined : () => ({
      log: messages.link?.down,
      bus: busDown,
      ...(presenceLink(presence) ? { presence: presenceLink(presence)?.down } : {}),
      ...(sessions?.link ? { sessions: sessions.link.down } : {}),
    }),
  });
  const connections$ = new Subject<ReturnType<typeof connection$>>();
  const feedback$ = new Subject<HubEvent>();
  // The log's outcomes: the store runner emits them after its batch, outside any step.
  const stored$ = new Subject<HubEvent | readonly HubEvent[]>();
  const messages: MessageLog = options.messages
    ?? new MemoryLog({ retention: { maxPerRoom: config.historyMax, maxDays: config.historyDays } });
  const store = new StoreRunner(messages, (es) => stored$.next(es.length === 1 ? es[0] : es), { log, onBatch: metrics?.logBatch });
  // A log across a network (Redis): said once when it goes away and once when it is back, not once per refused line.
  const unwatch = messages.link?.watch((down) => {
    log(down === undefined ? 'info' : 'warn', down === undefined ? 'store_up' : 'store_down', down === undefined ? {} : { reason: down });
    // Lines appended while the bus was back but the log was not may have been missed: check each room's head.
    if (down === undefined && bus !== undefined) hear(linkUp(Date.now()));
  });
  // Every connection's heartbeat timeout, on one timer wheel with slots a heartbeat interval wide.
  const liveness = livenessOn(config.heartbeatTimeoutMs, config.heartbeatIntervalMs);
  const presenceRunner = presence === undefined ? undefined
    : new (require('../cluster/presence-runner') as typeof PresenceRunnerModule).PresenceRunner(presence, (e) => stored$.next(e), {
      log, everyMs: options.presenceEveryMs,
    });
  // Before its first member joins: a past life's members leave, and this node is in presence's index of
  // nodes, so that were it to die at once it is swept.
  await presenceRunner?.start();
  const runner = new Runner({
    maxBuffered: config.maxBuffered,
    log,
    onDropped: (id, reason) => {
      metrics?.slowDropped();
      feedback$.next(closed(id, Date.now(), reason));
    },
    delivered: metrics?.delivered,
    store: (effect) => store.submit(effect),
    bus,
    sessions: sessionRunner && ((effect) => sessionRunner?.submit(effect)),
    presence: presenceRunner === undefined ? undefined : (effect) => presenceRunner.submit(effect),
  });

  const events$ = merge(
    mergeConnections(connections$),
    pings$(() => runner.ids(), { intervalMs: config.heartbeatIntervalMs }),
    // Events the runner feeds back arrive on a later tick, never in the middle of a step's effects.
    feedback$.pipe(observeOn(asapScheduler)),
    stored$,
    heard$,
    sessioned$,
  );
  // With metrics on, each step is timed from the reducer's start to the runner's end.
  const subscription = hub$(events$, latest, metrics ? metrics.timed(safeStep) : safeStep).subscribe((step) => {
    latest = step.state;
    runner.run(step.effects);
    metrics?.stepDone();
  });
  // One set of dependencies for every connection (nothing of it is per connection).
  const connectionDeps = {
    newId: nanoid, liveness, rate, onFrame: metrics?.frame, onClose: metrics?.closed, onRateLimited: metrics?.rateLimited,
    // With auth on: a Refresh's token is verified here, at the edge (docs/protocol.md "Auth").
    ...(auth === undefined ? {} : {
      verifyRefresh: async (token: string) => {
        const v = await auth.verify(token);
        return v.ok ? userOf(v.claims) : undefined;
      },
    }),
  };

  const web = createStaticHandler(options.webRoot);
  const serveHttp = (req: http.IncomingMessage, res: http.ServerResponse) =>
    handleHttp(req, res, {
      health: () => ({
        connections: latest.clients.size,
        rooms: latest.rooms.size,
        uptime: (Date.now() - started) / 1000,
        // The sessions' link too: a node that cannot reach them cannot resume a client.
        down: messages.link?.down ?? busDown ?? sessions?.link?.down,
      }),
      web,
      // --metrics-port: /metrics is on that listener only, and the main port answers 404.
      metrics: metrics && config.metricsPort === '' ? () => metrics.scrape() : undefined,
    });
  // A client that trickles its request (an upgrade's headers) is cut off with 408 (clientError below):
  // Node checks, each interval, every connection still sending a request (from its accept: sending nothing counts).
  const timeout = config.upgradeTimeoutMs;
  const httpServer = http.createServer({
    headersTimeout: timeout,
    requestTimeout: timeout,
    ...(timeout > 0 ? { connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeout / 4))) } : {}),
  }, serveHttp);
  /** A refusal at the door, counted by reason: logged by the door, and in /metrics. */
  const counted = (refusal: Refusal, address?: string): void => {
    door.counted(refusal, address);
    metrics?.upgradeRefused(refusal);
  };
  /** Answers an upgrade we refuse on the raw socket, counted by reason, then lets the connection go. */
  const refuse = (socket: Duplex, refusal: Refusal, headers: Record<string, string> = {}, address?: string): void => {
    counted(refusal, address);
    hangUp(socket, rawResponse(REFUSALS[refusal].status, headers, REFUSALS[refusal].reason));
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, clientTracking: false });
  let accepting = true;

  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands over the socket without its own 'error' listener, and until ws owns
    // it nothing else listens: a reset now would end the process (issue 11, 1b).
    const onError = () => socket.destroy();
    socket.on('error', onError);
    const target = parseTarget(req.url);
    if (!target) return refuse(socket, 'bad_target');
    if (target.path !== '/ws') {
      // An upgrade the server may decline (RFC 9110 7.8): h2c and the like get the plain HTTP answer.
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') return serveWithoutUpgrade(req, socket, serveHttp);
      return refuse(socket, 'not_found');
    }
    // ws answers 405 to other methods, without the Allow header RFC 9110 15.5.6 asks for.
    if (req.method !== 'GET') return refuse(socket, 'method', { Allow: 'GET' });
    if (!accepting) return refuse(socket, 'shutting_down');
    // The door (docs/security.md): origin, room for one more, the address's share. Counted from here
    // until the socket closes, whatever closes it (ws refusing the handshake, the client, the server).
    const verdict = door.admit(req);
    if (!verdict.ok) return refuse(socket, verdict.refusal, verdict.headers, verdict.address);
    socket.once('close', verdict.release);
    const room = target.query.get('room') ?? undefined;
    if (auth === undefined) return upgrade(req, socket, head, target.query, onError);
    // With auth on: the token, then the room asked for. jose's checks are promises: other upgrades and
    // the hub go on meanwhile, and a socket that went away while its token was checked is left alone.
    const address = req.socket.remoteAddress;
    auth.admit(tokenOf(target.query, req.headers.authorization), room).then((v) => {
      if (socket.destroyed) return;
      if (!accepting) return refuse(socket, 'shutting_down');
      if (!v.ok) return refuse(socket, v.refusal, v.refusal === 'forbidden_room' ? {} : { 'WWW-Authenticate': 'Bearer' }, address);
      upgrade(req, socket, head, target.query, onError, v.claims);
    }, () => refuse(socket, 'bad_token', { 'WWW-Authenticate': 'Bearer' }, address));
  });
  /** Hands an admitted upgrade to ws; with auth on, the name is the token's (docs/security.md "Identity"). */
  const upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer, q: URLSearchParams, onError: () => void, claims?: Claims): void => {
    // From here ws answers a bad handshake itself (400 for a missing key or a non-WebSocket Upgrade).
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onError);
      // One object for both: the runner's registry holds it, and the connection names its events with its ID.
      const who: Seat = { id: nanoid(), ws };
      runner.register(who);
      const query = {
        name: claims?.name ?? q.get('name') ?? undefined,
        room: q.get('room') ?? undefined,
        resume: q.get('resume') ?? undefined,
        since: q.get('since') ?? undefined,
        ...(claims === undefined ? {} : { user: userOf(claims) }),
      };
      connections$.next(connection$(who, query, ws, connectionDeps, newToken()));
    });
  };
  // A client that breaks the HTTP layer harms only itself. It gets Node's own answer
  // (400, or 431 for headers over the limit) unless a response is already under way.
  httpServer.on('clientError', (e: NodeJS.ErrnoException, socket: Duplex) => {
    if (e.code !== 'ECONNRESET') counted(e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'timeout' : 'bad_request', (socket as Socket).remoteAddress);
    const answer = clientErrorResponse(e.code);
    if (answer && socket.writable && !(socket as WithResponse)._httpMessage?.headersSent) socket.write(answer);
    socket.destroy();
  });

  // --metrics-port: /metrics on a listener of its own (docs/security.md "Metrics"), nothing else there.
  const metricsServer = metrics && config.metricsPort !== ''
    ? http.createServer((req, res) => {
      const target = parseTarget(req.url);
      if (target?.path === '/metrics') return serveMetrics(req, res, () => metrics.scrape());
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
    })
    : undefined;
  try {
    if (metricsServer) await listen(metricsServer, config.metricsPort as number, config.metricsHost, '--metrics-port');
    await listen(httpServer, config.port, config.host, '--port');
  } catch (e) {
    metricsServer?.close();
    metrics?.close();
    throw e;
  }
  const port = (httpServer.address() as AddressInfo).port;
  // Said once, once listening (a start that fails says only why), so that an operator who meant to turn it on sees it is not.
  if (auth === undefined) log('info', 'auth_off', { why: 'no --auth-secret nor --auth-public-key: anyone may connect, as any name' });
  else log('info', 'auth_on', { algorithm: auth.algorithm });
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;

  let closing: Promise<void> | undefined;
  const close = (graceMs = 4000): Promise<void> => {
    closing ??= (async () => {
      // No new connections, no new upgrades, and no more frames first (issue 11,
      // 4b): whatever floods the server stops reaching the hub, so the loop drains
      // and the stop's own timers run. A socket reads again once it is told to
      // close, for the peer's close frame only (runner.ts, connection.ts).
      accepting = false;
      runner.pauseReading();
      const stopped = new Promise<void>((r) => httpServer.close(() => r()));
      feedback$.next(shutdownRequested(Date.now()));
      // Bounded: clients get graceMs to finish the closing handshake, then are cut.
      // runner.size counts sockets still closing, the slow-dropped ones too (4a).
      const deadline = Date.now() + graceMs;
      while (runner.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      runner.terminateAll();
      httpServer.closeAllConnections();
      await stopped;
      subscription.unsubscribe();
      connections$.complete();
      // What the log was asked before the end is finished, then the log is closed.
      await store.drain();
      unwatch?.();
      // Every member here leaves presence (reason shutdown: the other nodes' members are told), then it closes.
      await presenceRunner?.drain();
      await presence?.close();
      await messages.close();
      // The identities parked as their sockets closed are in Redis before it is let go.
      await sessionRunner?.drain();
      sessionRunner?.stop();
      await sessions?.close();
      await bus?.close();
      if (metricsServer) {
        const down = new Promise<void>((r) => metricsServer.close(() => r()));
        metricsServer.closeAllConnections();
        await down;
      }
      metrics?.close();
    })();
    return closing;
  };

  const metricsUrl = !metrics ? ''
    : metricsServer ? `http://${hostForUrl(config.metricsHost)}:${(metricsServer.address() as AddressInfo).port}/metrics`
      : `http://${hostForUrl(shownHost)}:${port}/metrics`;
  return { port, url: `ws://${shownHost}:${port}/ws`, state: () => latest, close, nodeId, metricsUrl, door };
}

/** Listens, or rejects with the listen error in one line that names the flag to change (a port in use). */
function listen(server: http.Server, port: number, host: string, flag: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => reject(listenError(e, host, port, flag));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/** A host as it goes in a URL: an IPv6 address in brackets; 0.0.0.0 and :: as localhost. */
function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** Why the server cannot listen, in one line that says what to change (issue 9, 6: main.ts prints it and exits 2). */
function listenError(e: NodeJS.ErrnoException, host: string, port: number, flag = '--port'): Error {
  const say = (message: string) => Object.assign(new Error(message), { code: e.code });
  switch (e.code) {
    case 'EADDRINUSE':
      return say(`port ${port} is in use; try ${flag}`);
    case 'EACCES':
      return say(`port ${port} needs privileges this process does not have; try ${flag} above 1023`);
    case 'EADDRNOTAVAIL':
      return say(`cannot listen on ${host}: not an address of this machine; try --host`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return say(`cannot listen on ${host}: no such host; try --host`);
    default:
      return e;
  }
}

/** Presence's Redis link, when it has one (a RedisPresence; specs may pass another). */
function presenceLink(presence: unknown): { down: string | undefined } | undefined {
  return (presence as { link?: { down: string | undefined } } | undefined)?.link;
}

/** Node keeps the response in flight on a socket in `_httpMessage` (not in its typings). */
type WithResponse = Duplex & { _httpMessage?: http.ServerResponse | null };

/** Ends the socket after what it still has to write, and frees it then, whether or not the peer closes its side. */
function hangUp(socket: Duplex, last?: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(last);
}

/** Serves an upgrade request we decline as the plain HTTP request it also is, then closes the connection. */
function serveWithoutUpgrade(req: http.IncomingMessage, socket: Duplex, serve: http.RequestListener): void {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => {
    res.detachSocket(socket as Socket);
    hangUp(socket);
  });
  serve(req, res);
}
