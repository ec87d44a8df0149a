// Bot scripts (docs/cli.md, "Script format"): one step a line, run top to bottom
// by every bot. Pure parser: text in, steps or a located error out.
import { parseDuration } from './args';

export type Step =
  | { kind: 'say'; text: string; room?: string }
  | { kind: 'join'; room: string }
  | { kind: 'leave'; room: string }
  | { kind: 'nick'; name: string }
  | { kind: 'wait'; ms: number };

export type Parsed = { ok: true; steps: Step[] } | { ok: false; error: string };

/** Longest single wait: a script is meant to be a short scenario, and the run must end. */
export const MAX_WAIT_MS = 10 * 60_000;

function parseStep(verb: string, rest: string): Step | string {
  const words = rest.split(/\s+/).filter((w) => w !== '');
  const oneWord = (make: (w: string) => Step): Step | string =>
    words.length === 1 ? make(words[0]) : `${verb} takes exactly one word`;
  switch (verb) {
    case 'say': {
      const m = /^@(\S+)\s+(.*)$/s.exec(rest);
      if (m) return { kind: 'say', room: m[1], text: m[2].trim() };
      return rest === '' ? 'say needs some text' : { kind: 'say', text: rest };
    }
    case 'join':
      return oneWord((room) => ({ kind: 'join', room }));
    case 'leave':
      return oneWord((room) => ({ kind: 'leave', room }));
    case 'nick':
      return rest === '' ? 'nick needs a name' : { kind: 'nick', name: rest };
    case 'wait': {
      const ms = words.length === 1 ? parseDuration(words[0]) : undefined;
      if (ms === undefined) return 'wait takes a duration such as 500ms or 2s';
      return ms > MAX_WAIT_MS ? `wait is at most ${MAX_WAIT_MS / 60_000} minutes` : { kind: 'wait', ms };
    }
    default:
      return `unknown command "${verb}" (say, join, leave, nick, wait)`;
  }
}

/** Parses a whole script; the error names the source and line. */
export function parseScript(text: string, source = 'script'): Parsed {
  const steps: Step[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/s.exec(line) as RegExpExecArray;
    const step = parseStep(m[1].toLowerCase(), m[2].trim());
    if (typeof step === 'string') return { ok: false, error: `${source}:${i + 1}: ${step}` };
    steps.push(step);
  }
  return { ok: true, steps };
}

/** {bot} is the bot's name, {i} its number (1-based): lets N bots run one script distinctly. */
export const fill = (text: string, bot: { name: string; index: number }): string =>
  text.replace(/\{bot\}/g, bot.name).replace(/\{i\}/g, String(bot.index));
