// The command-line chat client (docs/cli.md).
//   npm run chat -- --url ws://localhost:8080/ws --name alice --room lobby
// At a terminal it is an interactive prompt on the client library (src/client): it
// resumes after the server goes away, queues what is typed meanwhile and shows what
// was missed. With piped stdin it sends each line in order, waits for each answer,
// and exits: 0 when all were answered, 1 when it cannot connect or stays cut off, 2
// when a line failed.
import '../src/ops/stack-maps'; // first: traces name .ts lines (src/ops/stack-maps.ts)
import * as readline from 'node:readline';
import { UsageError, readFlags, stringFlag, urlFlag } from './lib/args';
import type { ChatClient } from '../src/client';
import { nodeClient } from './lib/client';
import { parseLine } from './lib/commands';
import { ChatSession, Outcome } from './lib/session';

const USAGE = `usage: npm run chat -- [--url ws://localhost:8080/ws] [--name NAME] [--room lobby] [--token JWT]
--token: for a server with auth on (npm run token mints one); the name is then the token's
type /help at the prompt for the commands`;

/** Piped mode: how long the first connection may take, and how long a lost one may stay lost. */
const CONNECT_MS = 5000;
const LOST_MS = 10_000;
/** /quit and the end of piped input: how long what is still in the outbox may take to go. */
const FLUSH_MS = 2000;

function options(argv: readonly string[]) {
  const flags = readFlags(argv, {
    url: { type: 'string' }, name: { type: 'string' }, room: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  const url = urlFlag(flags, 'url', 'ws://localhost:8080/ws');
  const token = flags.token === undefined ? undefined : stringFlag(flags, 'token', '');
  return {
    help: flags.help === true,
    // A server with auth on reads the token from ?token= (docs/protocol.md "Auth"); the library adds the rest.
    url: token === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`,
    name: flags.name === undefined ? undefined : stringFlag(flags, 'name', ''),
    room: stringFlag(flags, 'room', 'lobby'),
  };
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  // https://no-color.org: colour only for a terminal, and never when NO_COLOR is set and not empty.
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  // onSeq: the session shows our own acked lines in their place among the room's lines.
  const client = nodeClient({ url: opts.url, name: opts.name, rooms: [opts.room], onSeq: (e) => session.seen(e) });
  const rl = readline.createInterface({
    input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive,
  });
  const prompt = () => `${session.current || '(no room)'}> `;
  const print = interactive
    ? (line: string) => {
      // Print above the prompt and redraw it with whatever was half typed.
      readline.cursorTo(process.stdout, 0);
      readline.clearLine(process.stdout, 0);
      process.stdout.write(`${line}\n`);
      rl.setPrompt(prompt());
      rl.prompt(true);
    }
    : (line: string) => { process.stdout.write(`${line}\n`); };
  const session = new ChatSession(client, {
    color, print, firstRoom: opts.room, wait: !interactive, linkWaitMs: LOST_MS,
  });
  // Why the link is not up, for the messages below (ECONNREFUSED, a close reason, …).
  let lastDown = '';
  let everReady = false;
  client.on('link', (e) => { if (e.link.state === 'down' || e.link.state === 'held') lastDown = e.link.reason; });
  client.on('ready', () => { everReady = true; });

  const finish = async (code: number) => {
    // What is still in the outbox gets a moment to go; close() then fails (and shows) what is left.
    if (client.outbox.length > 0 && client.ready) await session.flush(FLUSH_MS);
    client.close();
    if (interactive) {
      readline.cursorTo(process.stdout, 0);
      readline.clearLine(process.stdout, 0);
    }
    // Stop printing: nothing may redraw a closed prompt.
    session.dispose();
    rl.close();
    return code;
  };

  if (!interactive) {
    // Take lines from now on: those that arrive while connecting must wait, not be lost.
    const lines = rl[Symbol.asyncIterator]();
    client.start();
    try {
      await client.whenReady(CONNECT_MS);
    } catch (e) {
      const why = (e as { code?: string }).code === 'timeout' ? `cannot connect to ${opts.url}: ${lastDown || 'no answer'}` : (e as Error).message;
      process.stderr.write(`chat: ${why}\n`);
      return finish(1);
    }
    // A line typed while the link is down waits in the outbox. While a line waits, a link that stays
    // down LOST_MS, or a policy close, ends the run.
    let failed = false;
    for await (const line of { [Symbol.asyncIterator]: () => lines }) {
      const lost = watchLink(client, LOST_MS);
      const outcome = await Promise.race<Outcome | { lost: string }>([session.run(parseLine(line)), lost.promise]);
      lost.stop();
      if (typeof outcome === 'object') {
        process.stderr.write(`chat: ${outcome.lost}\n`);
        return finish(1);
      }
      if (outcome === 'quit') break;
      if (outcome === 'failed') failed = true;
    }
    return finish(failed ? 2 : 0);
  }

  // Interactive: lines run one at a time, in order. Chat lines go to the outbox at once (the library
  // keeps their order and sends them when it can); commands wait for their answer, bounded.
  client.start();
  rl.setPrompt(prompt());
  rl.prompt();
  return new Promise<number>((resolve) => {
    let queue = Promise.resolve();
    let quitting = false;
    const quit = (code = 0) => {
      if (quitting) return;
      quitting = true;
      void queue.then(() => finish(code)).then(resolve);
    };
    // protocol.md: 1008 before we were ever in means our ?name= or ?room= was refused: retrying cannot
    // help. Any other policy close holds the client: the session says so, /reconnect or /quit decides.
    client.on('link', (e) => { if (e.link.state === 'held' && e.link.code === 1008 && !everReady) quit(1); });
    rl.on('line', (line) => {
      // Replace the echoed input with the formatted line the client will print for it.
      const rows = Math.max(1, Math.ceil((prompt().length + line.length) / (process.stdout.columns || 80)));
      readline.moveCursor(process.stdout, 0, -rows);
      readline.clearScreenDown(process.stdout);
      queue = queue.then(async () => {
        if (quitting) return;
        if ((await session.run(parseLine(line))) === 'quit') quit();
        rl.setPrompt(prompt());
        if (!quitting) rl.prompt(true);
      });
    });
    rl.on('SIGINT', () => quit());
    rl.on('close', () => quit());
  });
}

/**
 * Resolves with why, once the link has been down for ms in a row (counted from now if it
 * is down already), or at a policy close. stop() ends the watch.
 */
function watchLink(client: ChatClient, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  let stopListening: () => void = () => undefined;
  const promise = new Promise<{ lost: string }>((resolve) => {
    const down = (reason: string) => {
      timer ??= setTimeout(() => resolve({ lost: `no connection (${reason}) for ${ms / 1000} s` }), ms);
    };
    if (client.phase === 'held') resolve({ lost: 'the server closed the connection' });
    else if (!client.ready) down('reconnecting');
    stopListening = client.on('link', (e) => {
      const l = e.link;
      if (l.state === 'ready') {
        clearTimeout(timer);
        timer = undefined;
      } else if (l.state === 'held') {
        resolve({ lost: `the server closed the connection (${l.code}${l.reason ? ` ${l.reason}` : ''})` });
      } else if (l.state === 'down') {
        down(l.reason);
      }
    });
  });
  return { promise, stop: () => { clearTimeout(timer); stopListening(); } };
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; should a handle linger, do not hang.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (e: unknown) => {
    process.stderr.write(e instanceof UsageError ? `chat: ${e.message}\n${USAGE}\n` : `chat: ${String((e as Error)?.stack ?? e)}\n`);
    process.exit(e instanceof UsageError ? 64 : 1);
  },
);
