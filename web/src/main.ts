// The page's one place of I/O: it feeds events to the pure step(), sends the
// frames it returns, and redraws. The socket, the DOM and the timers live here.
import { byId } from './dom';
import { bindComposer } from './composer';
import { DEFAULT_ROOM, nameProblem, roomProblem, socketUrl } from './protocol';
import { ChatSocket } from './socket';
import { ChatState, ClientEvent, conversationsInOrder, initialState } from './state';
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
let socket: ChatSocket | undefined;
let renderQueued = false;

const store = {
  get: (k: string, where: Storage = sessionStorage) => { try { return where.getItem(k); } catch { return null; } },
  set: (k: string, v: string) => { try { sessionStorage.setItem(k, v); localStorage.setItem(k, v); } catch { /* private mode */ } },
};

function dispatch(e: ClientEvent): void {
  if (!state) return;
  const r = step(state, e);
  for (const effect of r.effects) socket?.send(effect.frame);
  if (r.state === state) return;
  const before = state;
  state = r.state;
  if (state.link.state === 'stopped' && before.link.state !== 'stopped') {
    // A refused name: retrying would be refused again, so ask for another.
    socket?.stop();
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

const drawThread = threadView((key) => {
  if (state) dispatch({ kind: 'retried', conv: state.current, key, at: Date.now() });
  composer.focus();
});
const drawSide = sideView({
  open: (conv) => { dispatch({ kind: 'switched', conv }); closePanels(); composer.focus(); },
  join: (room) => { dispatch({ kind: 'joinAsked', room, at: Date.now() }); closePanels(); },
  dm: (peer, name) => { dispatch({ kind: 'dmOpened', peer, name }); closePanels(); composer.focus(); },
  rename: () => askName('rename'),
  // The banner's button: Retry now while backing off, Reconnect after a policy close.
  retryNow: () => socket?.reconnect(),
});
const composer = bindComposer({
  send: (text) => dispatch({ kind: 'said', text, at: Date.now() }),
  canSend: () => state?.link.state === 'open' && state.convs.has(state.current),
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

function start(name: string, room: string): void {
  store.set(NAME_KEY, name);
  state = initialState(name, room);
  app.hidden = false;
  socket = new ChatSocket({
    url: () => socketUrl(location, state?.name ?? name, state?.rooms[0] ?? DEFAULT_ROOM),
    onFrame: (frame) => dispatch({ kind: 'frame', frame, at: Date.now() }),
    onLink: (e) => dispatch(e.kind === 'connecting' ? { kind: 'connecting', attempt: e.attempt }
      : e.kind === 'held' ? { kind: 'held', code: e.code, reason: e.reason, at: Date.now() }
        : { kind: 'dropped', attempt: e.attempt, retryAt: e.retryAt, at: Date.now() }),
  });
  socket.start();
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
    socket?.stop();
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
window.addEventListener('online', () => socket?.retryNow());
document.addEventListener('visibilitychange', () => { if (!document.hidden) socket?.retryNow(); });
setInterval(() => dispatch({ kind: 'roomsDue' }), ROOMS_EVERY_MS);
// The reconnect countdown.
setInterval(() => { if (state && state.link.state === 'reconnecting') render(); }, 1000);

const given = params.get('name') ?? store.get(NAME_KEY);
if (given !== null && !nameProblem(given.trim())) start(given.trim(), firstRoom());
else askName('start', given ? `That name won't do: ${nameProblem(given.trim())}.` : '');
