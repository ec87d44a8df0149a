// The command-line chat client (docs/cli.md).
//   npm run chat -- --url ws://localhost:8080/ws --name alice --room lobby
// At a terminal it is an interactive prompt that reconnects when the server goes
// away. With piped stdin it sends each line in order, waits for each answer, and
// exits: 0 when all were answered, 1 when it cannot connect, 2 when a line failed.
import * as readline from 'node:readline';
import { UsageError, readFlags, stringFlag, urlFlag } from './lib/args';
import { ChatClient } from './lib/client';
import { parseLine } from './lib/commands';
import { ChatSession } from './lib/session';

const USAGE = `usage: npm run chat -- [--url ws://localhost:8080/ws] [--name NAME] [--room lobby]
type /help at the prompt for the commands`;

/** How long piped mode waits for an answer, or for a lost connection to come back. */
const ANSWER_MS = 5000;

function options(argv: readonly string[]) {
  const flags = readFlags(argv, {
    url: { type: 'string' }, name: { type: 'string' }, room: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  return {
    help: flags.help === true,
    url: urlFlag(flags, 'url', 'ws://localhost:8080/ws'),
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
  const client = new ChatClient({ url: opts.url, name: opts.name, rooms: [opts.room], retryFirst: interactive });
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
  const session = new ChatSession(client, color, print, opts.room);
  const finish = async (code: number) => {
    if (interactive) {
      readline.cursorTo(process.stdout, 0);
      readline.clearLine(process.stdout, 0);
    }
    // Stop printing first: a frame arriving during the close must not redraw a closed prompt.
    session.dispose();
    rl.close();
    await client.close();
    return code;
  };

  if (!interactive) {
    // Take lines from now on: those that arrive while connecting must wait, not be lost.
    const lines = rl[Symbol.asyncIterator]();
    try {
      await client.start();
    } catch (e) {
      process.stderr.write(`chat: ${(e as Error).message}\n`);
      return finish(1);
    }
    let failed = false;
    for await (const line of { [Symbol.asyncIterator]: () => lines }) {
      try {
        await client.whenReady(ANSWER_MS);
      } catch (e) {
        process.stderr.write(`chat: ${(e as Error).message}\n`);
        return finish(1);
      }
      const outcome = await session.run(parseLine(line));
      if (outcome === 'quit') break;
      if (outcome === 'failed') failed = true;
    }
    return finish(failed ? 2 : 0);
  }

  // Interactive: lines run one at a time, in order, each bounded by the client's request timeout.
  void client.start().catch(() => undefined); // failures arrive as 'down' events, shown by the session
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
    // The client gives up only when retrying cannot help (a refused ?name= or ?room=). After a
    // policy close it is held instead: the session says so, and /reconnect or /quit is the user's call.
    client.events$.subscribe((e) => { if (e.kind === 'down' && e.retryInMs === undefined && !e.held) quit(1); });
    rl.on('line', (line) => {
      // Replace the echoed input with the formatted line that the ack will bring.
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
