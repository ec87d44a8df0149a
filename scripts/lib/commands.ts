// One typed line to one command. Pure; the session carries commands out.
import { Limits, codePoints } from '../../src/core/protocol';

export type Command =
  | { kind: 'say'; text: string }
  | { kind: 'join'; room: string }
  | { kind: 'leave'; room?: string }
  | { kind: 'rooms' }
  | { kind: 'who'; room?: string }
  | { kind: 'nick'; name: string }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'room'; room: string }
  | { kind: 'more' }
  | { kind: 'history'; n: number }
  | { kind: 'reconnect' }
  | { kind: 'quit' }
  | { kind: 'help' }
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string };

/** /history without N; and the most it reads (ten pages of 100, protocol.md "History"). */
export const HISTORY_DEFAULT = 20;
export const HISTORY_MAX = 1000;

export const HELP = [
  'plain text          say it in the current room (queued while disconnected, sent once back)',
  '/join ROOM          join ROOM and make it the current room',
  '/leave [ROOM]       leave ROOM (default: the current room)',
  '/room ROOM          make ROOM (one you are in) the current room',
  '/rooms              list the server\'s rooms',
  '/who [ROOM]         list who is in ROOM (default: the current room), 100 at a time',
  '/more               the next 100 of the last /who',
  `/history [N]        the current room's last N lines (default ${HISTORY_DEFAULT}, at most ${HISTORY_MAX})`,
  '/nick NAME          change your name',
  '/msg NAME|ID TEXT   send a direct message (queued while disconnected, as lines are)',
  '/reconnect          connect now: after the server closed the connection on purpose, or to skip the wait',
  '/quit               leave',
  '/help               this list',
  '//text              say "/text"',
];

const USAGE: Record<string, string> = {
  join: '/join ROOM',
  room: '/room ROOM',
  nick: '/nick NAME',
  msg: '/msg NAME|ID TEXT',
};

/** protocol.md counts characters as code points; refusing here saves a round trip and says why. */
function tooLong(what: 'line' | 'name', text: string): Command | undefined {
  const max = what === 'line' ? Limits.maxContent : Limits.maxName;
  if (text.length <= max) return undefined; // fewer UTF-16 units than the limit: fewer code points too
  const n = codePoints(text);
  return n > max ? { kind: 'invalid', reason: `a ${what} is at most ${max} characters (this one has ${n})` } : undefined;
}

const say = (text: string): Command => tooLong('line', text) ?? { kind: 'say', text };

export function parseLine(line: string): Command {
  if (line.trim() === '') return { kind: 'none' };
  if (!line.startsWith('/')) return say(line);
  if (line.startsWith('//')) return say(line.slice(1));
  const m = /^\/(\S+)\s*(.*)$/s.exec(line) as RegExpExecArray;
  const verb = m[1].toLowerCase();
  const rest = m[2].trim();
  const [first = '', ...more] = rest.split(/\s+/).filter((w) => w !== '');
  const one = (make: (arg: string) => Command): Command =>
    first === '' || more.length > 0 ? { kind: 'invalid', reason: `usage: ${USAGE[verb]}` } : make(first);
  switch (verb) {
    case 'join': return one((room) => ({ kind: 'join', room }));
    case 'room': return one((room) => ({ kind: 'room', room }));
    case 'leave': return more.length > 0 ? { kind: 'invalid', reason: 'usage: /leave [ROOM]' } : { kind: 'leave', ...(first ? { room: first } : {}) };
    case 'who': return more.length > 0 ? { kind: 'invalid', reason: 'usage: /who [ROOM]' } : { kind: 'who', ...(first ? { room: first } : {}) };
    case 'rooms': return { kind: 'rooms' };
    // A name may contain spaces (protocol.md: 1 to 32 characters, not blank).
    case 'nick': return rest === '' ? { kind: 'invalid', reason: `usage: ${USAGE.nick}` } : tooLong('name', rest) ?? { kind: 'nick', name: rest };
    case 'msg': {
      const text = rest.slice(first.length).trim();
      return first === '' || text === '' ? { kind: 'invalid', reason: `usage: ${USAGE.msg}` } : tooLong('line', text) ?? { kind: 'msg', to: first, text };
    }
    case 'more': return { kind: 'more' };
    case 'history': {
      const n = first === '' ? HISTORY_DEFAULT : /^\d+$/.test(first) ? Number(first) : NaN;
      return more.length > 0 || !(n >= 1 && n <= HISTORY_MAX)
        ? { kind: 'invalid', reason: `usage: /history [N], N from 1 to ${HISTORY_MAX}` }
        : { kind: 'history', n };
    }
    case 'reconnect': return { kind: 'reconnect' };
    case 'quit':
    case 'exit': return { kind: 'quit' };
    case 'help':
    case '?': return { kind: 'help' };
    default: return { kind: 'invalid', reason: `unknown command /${verb} (try /help)` };
  }
}
