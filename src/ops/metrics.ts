// What `GET /metrics` shows, in the Prometheus text format (prom-client), on a
// Registry of this server's own: specs start many servers in one process.
//
// Counted at the edge, never in the pure core: the connection sees every frame
// and every close, the runner every effect, the hub's subscription every step,
// the store runner every batch. The hot path only adds to plain numbers; they
// are copied into prom-client's metrics when a scrape asks (`collect`), so a
// frame costs an array increment, and a broadcast one addition whatever its
// fan-out. Label values are bounded: Type numbers, error codes, close codes and
// refusal reasons come from this code, never from a client, and past MAX_LABELS
// distinct values anything new is counted as "other". No ID or room name is a label.
import type { IntervalHistogram } from 'node:perf_hooks';
import { nowMs } from './clock';
import type * as Prom from 'prom-client';
import type { HubEvent } from '../core/events';
import { Type, isEncoded, type Outgoing } from '../core/protocol';

// prom-client's index loads all of it (summaries and their t-digest, the cluster aggregator, the push gateway,
// the default metrics): about 12 MB of RSS in a bare process, 1.6 MB more in this server at rest. The three
// classes used here are loaded alone, from the files the index loads them from, and only at the first scrape:
// until someone scrapes, counting is plain numbers and prom-client costs nothing at rest (issue 12's RSS).
interface PromClasses { Registry: typeof Prom.Registry; Counter: typeof Prom.Counter; Gauge: typeof Prom.Gauge }
const loadProm = (): PromClasses => ({
  Registry: require('prom-client/lib/registry') as typeof Prom.Registry,
  Counter: require('prom-client/lib/counter') as typeof Prom.Counter,
  Gauge: require('prom-client/lib/gauge') as typeof Prom.Gauge,
});
type Registry = Prom.Registry;
type Metric = Prom.Metric;

// node:perf_hooks (its event-loop sampler) is loaded at the first scrape too: it brings Node's whole performance
// API, 0.8 MB of RSS at rest in a bare process. Step times come from clock.ts.
const loadLoopDelay = (): typeof import('node:perf_hooks').monitorEventLoopDelay =>
  (require('node:perf_hooks') as typeof import('node:perf_hooks')).monitorEventLoopDelay;

/** Distinct values one label may take before new ones are counted as "other". */
export const MAX_LABELS = 64;

/** What the scrape reads from the server when it is asked, not on the hot path. */
export interface MetricsSources {
  connections: () => number;
  rooms: () => number;
  /** Several processes: each Redis link (the log, the bus, presence, sessions) and why it is down, or undefined while up. */
  links?: () => Record<string, string | undefined>;
}

// The Type of each frame a client may send, as protocol.ts decodes it.
const TYPE_OF: Record<string, number> = {
  broadcast: Type.Broadcast, heartbeat: Type.HeartBeat, join: Type.Join, leave: Type.Leave, rooms: Type.Rooms,
  members: Type.Members, rename: Type.Rename, direct: Type.Direct, history: Type.History, refresh: Type.Refresh,
};
/** The slot past every Type: frames the decoder refused (bad JSON, a binary frame, an unknown Type...). */
const INVALID = 16;

/** Counts by a bounded label: plain numbers on the hot path. */
class Tally {
  readonly counts = new Map<string, number>();
  add(label: string, n = 1): void {
    const c = this.counts.get(label);
    if (c !== undefined) this.counts.set(label, c + n);
    else if (this.counts.size < MAX_LABELS) this.counts.set(label, n);
    else this.counts.set('other', (this.counts.get('other') ?? 0) + n);
  }
}

/**
 * A histogram whose observe is a few comparisons and two additions: prom-client's
 * Histogram.observe costs about 0.65 µs (a closure and a label hash per call), and
 * the hub step is observed twice per chat line. It is registered with the
 * Registry as any prom-client metric is (an object with a name and `get()`),
 * and exposed in the same form: cumulative `_bucket{le}`, `_sum`, `_count`.
 */
class Buckets {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly name: string, readonly help: string, private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  register(registry: Registry): void {
    registry.registerMetric(this as unknown as Metric);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }

  get() {
    let acc = 0;
    const bucket = `${this.name}_bucket`;
    const values = this.bounds.map((le, i) => ({ metricName: bucket, labels: { le }, value: (acc += this.counts[i]) }));
    values.push(
      { metricName: bucket, labels: { le: '+Inf' as unknown as number }, value: this.count },
      { metricName: `${this.name}_sum`, labels: {} as { le: number }, value: this.sum },
      { metricName: `${this.name}_count`, labels: {} as { le: number }, value: this.count },
    );
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/** A close code as a label: the standard ones (1000-1015) and the application ones this server uses (4000-4099). */
const closeLabel = (code: number): string =>
  ((code >= 1000 && code <= 1015) || (code >= 4000 && code <= 4099) ? String(code) : 'other');

export class Metrics {
  // Built at the first scrape (loadProm).
  private built?: Registry;
  // The hot path's numbers, read by the collects below.
  private readonly frames = new Array<number>(INVALID + 1).fill(0);
  private deliveries = 0;
  private readonly errors = new Tally();
  private readonly closes = new Tally();
  private readonly refusals = new Tally();
  private slowDrops = 0;
  private limited = 0;
  private stepStart = 0;
  private readonly stepSeconds: Buckets;
  private readonly logSeconds: Buckets;
  private loop?: IntervalHistogram;

  constructor(private readonly sources: MetricsSources) {
    this.stepSeconds = new Buckets(
      'rxchat_hub_step_seconds',
      'Time of one hub step: the reducer and the runner carrying out its effects',
      [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    );
    this.logSeconds = new Buckets(
      'rxchat_log_batch_seconds',
      'Time from the first append or read of a batch being asked to the message log answering the whole batch',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    );
  }

  /** The Registry with every metric, read from the numbers above at each scrape; made at the first. */
  private registry(): Registry {
    if (this.built) return this.built;
    const { Registry, Counter, Gauge } = loadProm();
    const registry = new Registry();
    this.built = registry;
    const sources = this.sources;
    const registers = [registry];
    // A counter fed from a plain number (or a tally) at scrape time.
    const counter = (name: string, help: string, read: () => number) => new Counter({
      name, help, registers, collect() { this.reset(); this.inc(read()); },
    });
    const byLabel = (name: string, help: string, label: string, read: () => Iterable<[string, number]>) => new Counter({
      name, help, registers, labelNames: [label],
      collect() {
        this.reset();
        for (const [value, n] of read()) this.inc({ [label]: value }, n);
      },
    });
    const gauge = (name: string, help: string, read: () => number) => new Gauge({
      name, help, registers, collect() { this.set(read()); },
    });

    gauge('rxchat_connections', 'Clients connected to this process now', sources.connections);
    gauge('rxchat_rooms', 'Rooms with at least one member on this process now', sources.rooms);
    byLabel('rxchat_frames_received_total', 'Frames received from clients, by Type (invalid: refused by the decoder)', 'type',
      () => this.frames.flatMap((n, i): [string, number][] => (n === 0 ? [] : [[i === INVALID ? 'invalid' : String(i), n]])));
    counter('rxchat_deliveries_total', 'Frames handed to client sockets (a broadcast counts each recipient)', () => this.deliveries);
    byLabel('rxchat_errors_sent_total', 'Error frames (Type 5) sent to clients, by Code', 'code', () => this.errors.counts);
    byLabel('rxchat_closes_total', 'WebSocket connections ended, by close code (1006: no closing handshake)', 'code', () => this.closes.counts);
    counter('rxchat_slow_consumer_drops_total', 'Clients dropped for reading too slowly (close 4008)', () => this.slowDrops);
    counter('rxchat_rate_limited_total', 'Frames refused by the per-connection message rate', () => this.limited);
    byLabel('rxchat_upgrade_refusals_total', 'WebSocket upgrades refused before a connection opened, by reason', 'reason', () => this.refusals.counts);
    this.stepSeconds.register(registry);
    this.logSeconds.register(registry);
    // perf_hooks' own sampler, at 20 ms, from the first scrape on (nothing at rest until someone scrapes);
    // disabled on close (prom-client's default metrics never disable theirs).
    const loop = loadLoopDelay()({ resolution: 20 });
    loop.enable();
    this.loop = loop;
    new Gauge({
      name: 'rxchat_event_loop_delay_seconds',
      help: 'Event-loop delay since the previous scrape (perf_hooks monitorEventLoopDelay, 20 ms resolution)',
      labelNames: ['stat'],
      registers,
      collect() {
        const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
        this.set({ stat: 'mean' }, s(loop.mean));
        this.set({ stat: 'p50' }, s(loop.percentile(50)));
        this.set({ stat: 'p99' }, s(loop.percentile(99)));
        this.set({ stat: 'max' }, s(loop.max));
        loop.reset();
      },
    });
    gauge('rxchat_process_resident_memory_bytes', 'Resident set size of this process', () => process.memoryUsage.rss());
    gauge('rxchat_process_heap_used_bytes', 'V8 heap in use', () => process.memoryUsage().heapUsed);
    gauge('rxchat_process_heap_total_bytes', 'V8 heap the process holds, in use or not', () => process.memoryUsage().heapTotal);
    gauge('rxchat_process_external_memory_bytes', 'Memory outside the V8 heap held by JavaScript objects (buffers)', () => process.memoryUsage().external);
    counter('rxchat_process_cpu_seconds_total', 'CPU time of this process, user and system', () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    });
    if (sources.links) {
      const links = sources.links;
      new Gauge({
        name: 'rxchat_redis_link_up',
        help: 'Whether each Redis link of this process works now (1) or is down (0)',
        labelNames: ['link'],
        registers,
        collect() {
          for (const [link, down] of Object.entries(links())) this.set({ link }, down === undefined ? 1 : 0);
        },
      });
    }
    return registry;
  }

  /** The text a scrape gets, and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    const registry = this.registry();
    return { body: await registry.metrics(), contentType: registry.contentType };
  }

  /** Stops the event-loop sampler. */
  close(): void {
    this.loop?.disable();
  }

  // The hooks, as arrow functions so they can be handed out as they are.

  /** connection.ts: a frame arrived (`received` or `rejected`). */
  readonly frame = (e: HubEvent): void => {
    if (e.kind === 'received') this.frames[TYPE_OF[e.message.type] ?? INVALID]++;
    else this.frames[INVALID]++;
  };

  /** connection.ts: a socket closed with this code. */
  readonly closed = (code: number): void => this.closes.add(closeLabel(code));

  /** runner.ts: `n` frames go to sockets; an Error frame is counted by its Code. */
  readonly delivered = (n: number, message: Outgoing): void => {
    this.deliveries += n;
    if (!isEncoded(message) && message.Type === Type.Error) this.errors.add(typeof message.Code === 'string' ? message.Code : 'other', n);
  };

  /** The runner dropped a slow reader (4008). */
  readonly slowDropped = (): void => {
    this.slowDrops++;
  };

  /** The per-connection message rate refused a frame. */
  readonly rateLimited = (): void => {
    this.limited++;
  };

  /** An upgrade was refused before a WebSocket opened; `reason` is one of a fixed set (README "Metrics"). */
  readonly upgradeRefused = (reason: string): void => this.refusals.add(reason);

  /**
   * Wraps the hub's step function to time it: the time ends when stepDone is called, after the runner.
   * Events that came together (hub.ts stepAll) are one step, timed from the first one's start.
   */
  timed<S, E, R>(step: (state: S, event: E) => R): (state: S, event: E) => R {
    return (state, event) => {
      if (this.stepStart === 0) this.stepStart = nowMs();
      return step(state, event);
    };
  }

  readonly stepDone = (): void => {
    this.stepSeconds.observe((nowMs() - this.stepStart) / 1000);
    this.stepStart = 0;
  };

  /** store/runner.ts: a batch took `ms` from its first op being asked to its outcomes. */
  readonly logBatch = (ms: number): void => {
    this.logSeconds.observe(ms / 1000);
  };
}
