// Chat load shared by the scenarios: what a sender puts in Content (its index, its
// own sequence number, the send time on the generator's one clock), a tally of
// what receivers actually got (count, reordering, latency), and the two ways to
// send: at a fixed rate (open loop) or as fast as acks and deliveries come back
// with a bounded window per sender (closed loop).
import { ChatClient } from './client';
import { Sample, sleep } from './stats';

/** `sender|seq|sentAtMs|padding`: no character that needs escaping in JSON. */
export const content = (sender: number, seq: number, pad: string): string =>
  `${sender}|${seq}|${performance.now().toFixed(3)}|${pad}`;

/** Refs carry the sender and its sequence number, so an ack names the message it acknowledges. */
const REF_BASE = 1e7;
export const refOf = (sender: number, seq: number) => sender * REF_BASE + seq;

export class Tally {
  /** Chat frames received, all told. */
  received = 0;
  /** Chat frames received while `measuring`. */
  inWindow = 0;
  /** Frames whose seq was not above the last one seen from that sender by that receiver. */
  reordered = 0;
  readonly latency = new Sample();
  /**
   * With several nodes (client i on node i % nodes): latency of deliveries whose
   * sender is on another node than the receiver, and on the same node; and the
   * deliveries in the window to each node's clients.
   */
  readonly crossLatency = new Sample();
  readonly sameLatency = new Sample();
  readonly inWindowByNode: number[];
  measuring = false;
  /** Told of every delivery (closed-loop senders count them). */
  onDelivered?: (sender: number, seq: number) => void;
  private readonly last: Int32Array;

  /** Sender number s is client number s (every scenario numbers them so). */
  constructor(receivers: number, private readonly senders: number, private readonly nodes = 1) {
    this.last = new Int32Array(receivers * senders).fill(-1);
    this.inWindowByNode = new Array<number>(nodes).fill(0);
  }

  /** The onChat handler for receiver number `r`. */
  receiver(r: number): (c: string) => void {
    return (c) => {
      const a = c.indexOf('|');
      const b = c.indexOf('|', a + 1);
      const s = +c.slice(0, a);
      const q = +c.slice(a + 1, b);
      this.received++;
      const k = r * this.senders + s;
      if (q <= this.last[k]) this.reordered++;
      else this.last[k] = q;
      if (this.measuring) {
        this.inWindow++;
        const ms = performance.now() - +c.slice(b + 1, c.indexOf('|', b + 1));
        this.latency.add(ms);
        if (this.nodes > 1) {
          const node = r % this.nodes;
          this.inWindowByNode[node]++;
          (s % this.nodes === node ? this.sameLatency : this.crossLatency).add(ms);
        }
      }
      this.onDelivered?.(s, q);
    };
  }
}

export interface Sender {
  client: ChatClient;
  room: string;
}

/**
 * Sends `rate` messages a second in total, round robin over the senders, until
 * `ms` have passed. Paced on elapsed time, so timer jitter does not lower the rate.
 * Resolves with the number sent.
 */
export async function openLoop(senders: readonly Sender[], rate: number, ms: number, pad: string): Promise<number> {
  const seq = new Int32Array(senders.length);
  const start = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= ms) return sent;
    const due = Math.floor((elapsed * rate) / 1000);
    while (sent < due) {
      const s = sent % senders.length;
      const q = seq[s]++;
      senders[s].client.say(senders[s].room, content(s, q, pad), refOf(s, q));
      sent++;
    }
    await sleep(2);
  }
}

/**
 * Each sender keeps at most `window` messages outstanding: a message is done when
 * it is acked and every one of the `recipients` others has received it. Stops
 * sending after `ms`. The tally's onDelivered and the returned onAck must be wired
 * to the clients (onAck is needed before connecting, hence the two steps).
 */
export class ClosedLoop {
  sent = 0;
  private running = false;
  private readonly ring = 64;
  private senders: readonly Sender[] = [];
  private seq = new Int32Array(0);
  private inflight = new Int32Array(0);
  private delivered = new Int32Array(0);
  private acked = new Uint8Array(0);

  constructor(private readonly window: number, private readonly recipients: number, private readonly pad: string) {
    if (window >= this.ring) throw new Error('window too large');
  }

  readonly onAck = (ref: number): void => {
    const s = Math.floor(ref / REF_BASE);
    const q = ref % REF_BASE;
    this.acked[s * this.ring + (q % this.ring)] = 1;
    this.check(s, q);
  };

  readonly onDelivered = (s: number, q: number): void => {
    this.delivered[s * this.ring + (q % this.ring)]++;
    this.check(s, q);
  };

  async run(senders: readonly Sender[], ms: number): Promise<void> {
    this.senders = senders;
    this.seq = new Int32Array(senders.length);
    this.inflight = new Int32Array(senders.length);
    this.delivered = new Int32Array(senders.length * this.ring);
    this.acked = new Uint8Array(senders.length * this.ring);
    this.running = true;
    for (let s = 0; s < senders.length; s++) this.pump(s);
    await sleep(ms);
    this.running = false;
  }

  private check(s: number, q: number): void {
    const k = s * this.ring + (q % this.ring);
    if (this.acked[k] === 1 && this.delivered[k] === this.recipients) {
      this.acked[k] = 2; // done: counted once
      this.inflight[s]--;
      this.pump(s);
    }
  }

  private pump(s: number): void {
    while (this.running && this.inflight[s] < this.window) {
      const q = this.seq[s]++;
      const k = s * this.ring + (q % this.ring);
      this.acked[k] = 0;
      this.delivered[k] = 0;
      this.inflight[s]++;
      this.sent++;
      this.senders[s].client.say(this.senders[s].room, content(s, q, this.pad), refOf(s, q));
    }
  }
}
