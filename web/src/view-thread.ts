// The conversation on screen: its header and its lines. Lines are redrawn by
// identity (the reducer replaces exactly the lines that changed), and the list stays
// scrolled to the newest unless the reader has scrolled up.
import { avatar, byId, h, icon, syncList, userText } from './dom';
import { ChatLine, ChatState, Conversation, Line, MAX_LINES, Part } from './state';

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const time = (at: number) => h('time', { datetime: new Date(at).toISOString(), title: full.format(at) }, clock.format(at));

// Only http(s) URLs become links, so a `javascript:` text stays text.
const URL_RE = /\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]]/g;

function richText(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const at = m.index ?? 0;
    if (at > last) out.push(document.createTextNode(text.slice(last, at)));
    out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer nofollow' }, m[0]));
    last = at + m[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

/** A line follows the previous one from the same sender within 5 minutes: no repeated name. */
const continues = (l: ChatLine, prev: Line | undefined) =>
  prev?.kind === 'chat' && prev.from === l.from && prev.name === l.name && prev.mine === l.mine && l.at - prev.at < 300_000;

const CLOCK = 'M12 7v5l3 2M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z';
const TICKS = { pending: CLOCK, sent: CLOCK, delivered: 'M5 12.5l4.5 4.5L19 7.5' };
const TICK_LABEL = { pending: 'Not sent yet', sent: 'Sending', delivered: 'Delivered' };

/** Our own line's state: a clock until the server's Ack (pending: not on the wire yet), then a tick. */
function tick(l: ChatLine): HTMLElement | undefined {
  if (l.status === undefined || l.status === 'failed') return undefined;
  const label = TICK_LABEL[l.status];
  return h('span', { class: 'tick', title: label }, icon(TICKS[l.status]), h('span', { class: 'sr-only' }, label));
}

/** Under a line of ours: why it failed (with Retry), or why it waits. */
function failure(l: ChatLine, retry: (key: string) => void): HTMLElement | undefined {
  if (l.status === 'pending') return h('p', { class: 'waiting' }, l.error ?? 'Will be sent when the connection is back');
  if (l.status !== 'failed') return undefined;
  const b = h('button', { type: 'button', class: 'retry' }, 'Retry');
  b.addEventListener('click', () => retry(l.key));
  return h('p', { class: 'failure' }, h('span', { class: 'error-text' }, l.error ?? 'Not sent'), b);
}

/** Our words as text, other people's strings isolated. */
const part = (p: Part): Node | string => (typeof p === 'string' ? p : userText(p.user));

function lineNode(l: Line, prev: Line | undefined, retry: (key: string) => void): HTMLElement {
  if (l.kind === 'notice') return h('li', { class: `notice notice-${l.tone}` }, h('span', {}, ...l.parts.map(part)), ' · ', time(l.at));
  const cont = continues(l, prev);
  const cls = ['msg', l.mine ? 'mine' : 'theirs', cont ? 'cont' : '', l.status ?? ''].filter(Boolean).join(' ');
  return h('li', { class: cls, 'data-status': l.status },
    // A continuation is indented where the avatar would be: the avatar shows once per run.
    l.mine || cont ? undefined : avatar(l.name),
    h('div', { class: 'msg-body' },
      cont ? undefined : h('div', { class: 'meta' }, l.mine ? h('span', { class: 'author' }, 'You') : userText(l.name, 'author'), time(l.at)),
      h('div', { class: 'bubble' }, h('p', { class: 'text', dir: 'auto' }, ...richText(l.text)), tick(l)),
      failure(l, retry)));
}

function header(c: Conversation | undefined, me: string): HTMLElement[] {
  if (!c) return [h('h1', { class: 'thread-title' }, 'rxchat')];
  if (c.kind === 'room') {
    const n = c.count;
    return [h('h1', { class: 'thread-title' }, h('span', { class: 'hash', 'aria-hidden': 'true' }, '#'), userText(c.title)),
      h('p', { class: 'thread-sub' }, c.joined ? `${n} member${n === 1 ? '' : 's'}` : 'rejoining…')];
  }
  return [avatar(c.title, 'sm'), h('div', {},
    h('h1', { class: 'thread-title' }, userText(c.title)),
    h('p', { class: 'thread-sub' }, c.gone ? 'offline (left the chat)' : c.peer === me ? 'you' : 'Direct message'))];
}

const ids = new WeakMap<object, number>();
let nextId = 0;
const identity = (o: object) => {
  let n = ids.get(o);
  if (n === undefined) ids.set(o, (n = nextId++));
  return String(n);
};

/** What the top of a room's lines says about the lines before them. */
function historyText(c: Conversation | undefined): string {
  if (c?.kind !== 'room') return '';
  if (c.loading) return 'Loading earlier messages…';
  if (!c.loaded) return '';
  if (!c.more) return `This is the start of #${c.title}`;
  return c.lines.size >= MAX_LINES ? 'Earlier messages are not kept on this page' : '';
}

/** Near the top: the next older page is wanted before the reader gets there. */
const NEAR_TOP_PX = 150;

export interface ThreadActions {
  retry: (key: string) => void;
  /** The reader is near the top of this conversation's lines. */
  older: (conv: string) => void;
}

export function threadView(a: ThreadActions) {
  const scroller = byId('scroller');
  const list = byId('messages');
  const jump = byId('jump');
  const head = byId('thread-id');
  const top = byId('history-state');
  let shown: Conversation | undefined;
  let stick = true;

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
    stick = true;
    jump.hidden = true;
  };
  const wantOlder = () => {
    if (shown?.kind === 'room' && shown.more && !shown.loading && scroller.scrollTop < NEAR_TOP_PX) a.older(shown.id);
  };
  scroller.addEventListener('scroll', () => {
    stick = nearBottom();
    if (stick) jump.hidden = true;
    wantOlder();
  }, { passive: true });
  jump.addEventListener('click', toBottom);
  // A phone keyboard opening or a window resize must not leave the newest line out of sight.
  new ResizeObserver(() => { if (stick) toBottom(); }).observe(scroller);

  return (s: ChatState, me: string): void => {
    const c = s.convs.get(s.current);
    if (c === shown) return;
    const switched = c?.id !== shown?.id;
    if (switched || c?.title !== shown?.title || c?.count !== shown?.count || c?.gone !== shown?.gone || c?.joined !== shown?.joined) {
      head.replaceChildren(...header(c, me));
    }
    top.textContent = historyText(c);
    // Where the reader is now, before anything is added (a scroll event may not have fired yet).
    const atBottom = nearBottom();
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    // The redraw walks the lines on screen (at most MAX_LINES); only a new or changed line is
    // built, next to the one before it by position (syncList passes the index).
    const lines = c?.lines.toArray() ?? [];
    const firstBefore = switched ? undefined : shown?.lines.first();
    const lastBefore = switched ? undefined : shown?.lines.last();
    if (switched) list.replaceChildren();
    // A line is redrawn when it changed, or when it now starts or continues a run of one sender's
    // lines (older lines came in above it, or a line in before ours on their way).
    const cont = new Set<Line>();
    lines.forEach((l, i) => { if (l.kind === 'chat' && continues(l, lines[i - 1])) cont.add(l); });
    syncList(list, lines, (l) => l.key, (l) => `${identity(l)}${cont.has(l) ? '+' : ''}`, (l, i) => lineNode(l, lines[i - 1], a.retry));
    const prev = shown;
    shown = c;
    const newest = lines.at(-1);
    const newLast = newest !== undefined && newest.key !== lastBefore?.key;
    // Lines came in below what the reader saw: at the end, or just above our own lines on their way.
    const grew = newLast || (prev !== undefined && lines.length > prev.lines.size && lines[0] === firstBefore);
    const typed = newLast && newest.kind === 'chat' && newest.outKey !== undefined && newest.status !== 'delivered';
    if (switched || atBottom || typed) toBottom();
    else {
      // Older lines came in above: the lines the reader is looking at stay where they were.
      if (firstBefore !== undefined && lines[0] !== firstBefore) scroller.scrollTop = scroller.scrollHeight - fromBottom;
      if (grew) jump.hidden = false;
    }
    // A page that does not fill the screen cannot be scrolled up: read on until it does (or there is no more).
    if (switched || c?.oldest !== prev?.oldest) queueMicrotask(wantOlder);
  };
}
