// The page's one place of I/O: it feeds events to the pure step(), carries out the
// effects it returns with the client library, and redraws. The library (src/client)
// owns the socket: resume, the outbox, each room's lines in order. The DOM, the
// timers and the tab's storage live here.
import { ChatClient, RequestError, Type } from '../../src/client';
import { keySequence } from '../../src/client/keys';
import { byId } from './dom';
import { bindComposer } from './composer';
import { DEFAULT_ROOM, nameProblem, roomProblem, socketBase } from './protocol';
import { SESSION_KEY, Saved, parseSaved, restored, snapshot, usable } from './session';
import { ChatState, Effect, PageEvent, Step, conversationsInOrder, initialState } from './state';
import { step } from './step';
import { isolate } from './text';
import { sideView } from './view-side';
import { threadView } from './view-thread';

const NAME_KEY = 'rxchat.name';
/** The rooms list: once per (re)connection, when the rooms panel opens, and on this slow timer; never per join. */
const ROOMS_EVERY_MS = 30_000;
const ALERT_MS = 6_000;

const params = new URLSearchParams(location.search);
const app = byId('app');
const dialog = byId<HTMLDialogElement>('name-dialog');
const nameInput = byId<HTMLInputElement>('name-input');

let state: ChatState | undefined;
let client: ChatClient | undefined;
let renderQueued = false;
/** Idempotency Keys for our lines: made here, since the core has no randomness. */
const newKey = keySequence();

const store = {
  get: (k: string, where: Storage = sessionStorage) => { try { return where.getItem(k); } catch { return null; } },
  set: (k: string, v: string) => { try { sessionStorage.setItem(k, v); localStorage.setItem(k, v); } catch { /* private mode */ } },
  /** This tab only: a saved session must not reach another tab (duplicating a tab copies its sessionStorage). */
  setHere: (k: string, v: string) => { try { sessionStorage.setItem(k, v); } catch { /* full, or private mode: the next load starts afresh */ } },
  remove: (k: string) => { try { sessionStorage.removeItem(k); } catch { /* private mode */ } },
};

const queue: PageEvent[] = [];
let running = false;

/**
 * Events are queued: one the library raises while an effect is carried out (a
 * `message` as a line is handed to it) is taken after the current one, in order.
 */
function dispatch(e: PageEvent): void {
  queue.push(e);
  if (running) return;
  running = true;
  try {
    for (let next = queue.shift(); next; next = queue.shift()) apply(next);
  } finally {
    running = false;
  }
}

function apply(e: PageEvent): void {
  if (!state || !client) return;
  const before = state;
  const r = step(state, e);
  // The state is committed before any effect runs.
  state = r.state;
  for (const effect of r.effects) run(client, effect);
  if (state === before) return;
  if (state.link.state === 'stopped' && before.link.state !== 'stopped') {
    // A refused name: retrying would be refused again, so ask for another.
    client.close();
    askName('rename', state.link.reason);
  }
  if (state.alert && state.alert !== before.alert) {
    const shown = state.alert;
    setTimeout(() => { if (state?.alert === shown) dispatch({ kind: 'alertDismissed' }); }, ALERT_MS);
  }
  if (state.name !== before.name) store.set(NAME_KEY, state.name);
  if (state.current !== before.current) afterSwitch(state);
  if (!renderQueued) {
    renderQueued = true;
    queueMicrotask(render);
  }
}

const failure = (e: unknown) => ({
  code: e instanceof RequestError ? e.code : 'error',
  reason: e instanceof Error ? e.message : String(e),
});

/** Carries out one effect; what comes back (an answer, a refusal) is an event, for this client only. */
function run(c: ChatClient, effect: Effect): void {
  const mine = (e: PageEvent) => { if (client === c) dispatch(e); };
  switch (effect.kind) {
    case 'send':
      if (effect.room !== undefined) c.send(effect.room, effect.content, { key: effect.key });
      else c.sendDirect(effect.to as string, effect.content, { key: effect.key });
      return;
    case 'join':
    case 'leave':
    case 'rename': {
      const subject = effect.kind === 'rename' ? effect.name : effect.room;
      const asked = effect.kind === 'rename' ? c.request({ Type: Type.Rename, Name: effect.name })
        : effect.kind === 'join' ? c.join(effect.room) : c.leave(effect.room);
      // The answer itself comes as a frame event too (frames.ts); only a refusal is news here.
      asked.catch((e: unknown) => mine({ kind: 'refused', request: effect.kind, subject, ...failure(e), at: Date.now() }));
      return;
    }
    case 'listRooms':
      c.request({ Type: Type.Rooms }).catch(() => undefined); // answered as a frame event; a miss waits for the next
      return;
    case 'history': {
      const { room, before, limit } = effect;
      c.history(room, { limit, ...(before !== undefined ? { before } : {}) }).then(
        (p) => mine({ kind: 'historyLoaded', room, ...(before !== undefined ? { before } : {}), ...(p.epoch !== undefined ? { epoch: p.epoch } : {}), messages: p.messages, more: p.more, at: Date.now() }),
        (e: unknown) => mine({ kind: 'historyFailed', room, ...(before !== undefined ? { before } : {}), ...failure(e), at: Date.now() }),
      );
      return;
    }
    default: {
      const never: never = effect;
      return never;
    }
  }
}

const drawThread = threadView({
  retry: (key) => {
    if (state) dispatch({ kind: 'retried', conv: state.current, key, at: Date.now() });
    composer.focus();
  },
  older: (conv) => dispatch({ kind: 'olderWanted', conv }),
});
const drawSide = sideView({
  open: (conv) => { dispatch({ kind: 'switched', conv }); closePanels(); composer.focus(); },
  join: (room) => { dispatch({ kind: 'joinAsked', room, at: Date.now() }); closePanels(); },
  dm: (peer, name) => { dispatch({ kind: 'dmOpened', peer, name }); closePanels(); composer.focus(); },
  rename: () => askName('rename'),
  // The banner's button: Retry now while backing off, Reconnect after a policy close.
  retryNow: () => client?.reconnect(),
});
const composer = bindComposer({
  send: (text) => dispatch({ kind: 'said', text, key: newKey(), at: Date.now() }),
  // Offline too: the line waits, shown as pending, and goes when the link is back.
  canSend: () => state !== undefined && state.link.state !== 'stopped' && state.convs.has(state.current),
});

function render(): void {
  renderQueued = false;
  if (!state) return;
  drawThread(state, state.me);
  drawSide(state, Date.now());
  const here = state.convs.get(state.current);
  composer.update(here ? (here.kind === 'room' ? `Message #${here.title}` : `Message ${isolate(here.title)}`) : 'Join a room to chat');
  byId('leave').hidden = here?.kind !== 'room';
}

/** The address bar follows the room on screen, so a reload or a shared link lands there. */
function afterSwitch(s: ChatState): void {
  const here = s.convs.get(s.current);
  if (here?.kind !== 'room') return;
  const q = new URLSearchParams(location.search);
  q.set('room', here.title);
  if (q.has('name')) q.set('name', s.name);
  history.replaceState(null, '', `${location.pathname}?${q}`);
}

/** A new client: afresh, or from the session this tab kept over a reload (session.ts). */
function start(name: string, room: string, saved?: Saved): void {
  store.set(NAME_KEY, name);
  const init: Step = saved ? restored(name, room, saved) : { state: initialState(name, room), effects: [] };
  state = init.state;
  const c = new ChatClient({
    url: socketBase(location, params.get('token')), WebSocket, name, rooms: state.rooms, ...(saved ? { restore: saved.session } : {}),
  });
  client = c;
  c.onAny((event) => {
    if (client !== c) return;
    // An Error may be the end of a room the library could not rejoin: say which rooms it is still in.
    const rooms = event.type === 'frame' && event.frame.Type === Type.Error ? c.rooms : undefined;
    dispatch({ kind: 'lib', event, at: Date.now(), ...(rooms ? { rooms } : {}) });
  });
  // Our messages from before the reload go first, with their own Keys.
  for (const effect of init.effects) run(c, effect);
  app.hidden = false;
  c.start();
  render();
  composer.focus();
}

function askName(mode: 'start' | 'rename', error = ''): void {
  byId('name-title').textContent = mode === 'start' ? 'Welcome to rxchat' : 'Change your name';
  byId('name-lead').textContent = mode === 'start'
    ? `Pick a name to join #${firstRoom()}. Others see it next to your messages.`
    : 'Everyone in your rooms will see the change.';
  byId('name-submit').textContent = mode === 'start' ? 'Start chatting' : 'Save';
  byId('name-error').textContent = error;
  nameInput.value = state?.name ?? store.get(NAME_KEY, localStorage) ?? '';
  if (!dialog.open) dialog.showModal();
  nameInput.select();
}

byId('name-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = nameInput.value.trim();
  const problem = nameProblem(name);
  if (problem) {
    byId('name-error').textContent = `That name won't do: ${problem}.`;
    nameInput.focus();
    return;
  }
  dialog.close();
  if (!state) return start(name, firstRoom());
  if (state.link.state === 'stopped') {
    // The server refused the last name: start over with this one, in the same rooms.
    client?.close();
    return start(name, state.rooms[0] ?? firstRoom());
  }
  dispatch({ kind: 'renameAsked', name, at: Date.now() });
  composer.focus();
});
// Escape may dismiss a rename, never the first prompt: there is nothing behind it yet.
dialog.addEventListener('cancel', (ev) => { if (!state || state.link.state === 'stopped') ev.preventDefault(); });

function firstRoom(): string {
  const room = params.get('room');
  return room && !roomProblem(room) ? room : DEFAULT_ROOM;
}

// The panels that slide in on narrow screens.
function setPanel(panel: '' | 'sidebar' | 'members'): void {
  app.dataset.panel = panel;
  byId('scrim').hidden = panel === '';
  byId('open-sidebar').setAttribute('aria-expanded', String(panel === 'sidebar'));
  byId('open-members').setAttribute('aria-expanded', String(panel === 'members'));
}
const closePanels = () => setPanel('');
byId('open-sidebar').addEventListener('click', () => {
  const opening = app.dataset.panel !== 'sidebar';
  setPanel(opening ? 'sidebar' : '');
  // The rooms panel is about to be looked at: bring its list up to date.
  if (opening) dispatch({ kind: 'roomsDue' });
});
byId('open-members').addEventListener('click', () => setPanel(app.dataset.panel === 'members' ? '' : 'members'));
byId('scrim').addEventListener('click', closePanels);

byId('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = byId<HTMLInputElement>('join-input');
  const room = input.value.trim().replace(/^#/, '');
  if (!room) return;
  dispatch({ kind: 'joinAsked', room, at: Date.now() });
  input.value = '';
  closePanels();
});
byId('leave').addEventListener('click', () => {
  const here = state?.convs.get(state.current);
  if (here?.kind === 'room') dispatch({ kind: 'leaveAsked', room: here.title, at: Date.now() });
});
byId('alert-close').addEventListener('click', () => dispatch({ kind: 'alertDismissed' }));

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && app.dataset.panel) return closePanels();
  if (!state || !ev.altKey || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) return;
  // Alt+↑/↓: the previous/next conversation, in sidebar order.
  ev.preventDefault();
  const { rooms, dms } = conversationsInOrder(state);
  const all = [...rooms, ...dms];
  const i = all.findIndex((c) => c.id === state?.current);
  const next = all[(i + (ev.key === 'ArrowDown' ? 1 : all.length - 1)) % all.length];
  if (next) dispatch({ kind: 'switched', conv: next.id });
});

// Come back at once when the network or the tab does, rather than waiting out the backoff.
window.addEventListener('online', () => client?.retryNow());
document.addEventListener('visibilitychange', () => { if (!document.hidden) client?.retryNow(); });
setInterval(() => dispatch({ kind: 'roomsDue' }), ROOMS_EVERY_MS);
// The reconnect countdown.
setInterval(() => { if (state && state.link.state === 'reconnecting') render(); }, 1000);

// A reload keeps the conversation: the session goes to this tab's storage as the page
// goes, and comes back as `restore` (session.ts). The socket is left for the browser to
// close: should the page come back from the back/forward cache, the client goes on.
window.addEventListener('pagehide', () => {
  if (state && client && state.link.state !== 'stopped') store.setHere(SESSION_KEY, JSON.stringify(snapshot(state, client.session)));
});
// Back from that cache, the page is still the session's owner: the saved copy is stale.
window.addEventListener('pageshow', (ev) => { if (ev.persisted) store.remove(SESSION_KEY); });

// Read once and forgotten: a resume token works once, and a duplicated tab must not try it too.
const saved = parseSaved(store.get(SESSION_KEY));
store.remove(SESSION_KEY);
const given = (params.get('name') ?? store.get(NAME_KEY))?.trim() ?? null;
if (given !== null && !nameProblem(given)) start(given, firstRoom(), usable(saved, given) ? saved : undefined);
else askName('start', given ? `That name won't do: ${nameProblem(given)}.` : '');
