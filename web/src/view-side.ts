// Everything around the thread: who I am, my rooms and conversations with their
// unread counts, the other public rooms, the member list, and the link's state.
import { avatar, byId, h, syncList, userText } from './dom';
import type { Member } from './protocol';
import { ChatState, Conversation, conversationsInOrder, unreadTotal } from './state';
import { isolate } from './text';

export interface SideActions {
  open: (conv: string) => void;
  join: (room: string) => void;
  dm: (peer: string, name: string) => void;
  rename: () => void;
  retryNow: () => void;
}

const NO_MEMBERS: readonly Member[] = [];

const badge = (n: number) => (n > 0 ? h('span', { class: 'badge', 'aria-hidden': 'true' }, n > 99 ? '99+' : String(n)) : undefined);
const unreadLabel = (n: number) => (n > 0 ? `, ${n} unread` : '');

function navButton(label: string, current: boolean, onClick: () => void, ...children: (Node | undefined)[]): HTMLElement {
  const b = h('button', { type: 'button', class: 'nav-item', 'aria-label': label, 'aria-current': current ? 'page' : undefined }, ...children.filter((c): c is Node => !!c));
  b.addEventListener('click', onClick);
  return h('li', {}, b);
}

export function sideView(a: SideActions) {
  const me = byId('me');
  const rooms = byId('my-rooms');
  const dms = byId('dms');
  const dir = byId('public-rooms');
  const members = byId('members');
  const banner = byId('banner');
  const bannerText = byId('banner-text');
  const bannerBtn = byId<HTMLButtonElement>('banner-btn');
  const alertBox = byId('alert');
  let last: ChatState | undefined;
  let shownMembers: readonly Member[] | undefined;
  let shownCount = 0;
  const membersMore = byId('members-more');
  bannerBtn.addEventListener('click', () => a.retryNow());

  const roomItem = (c: Conversation, s: ChatState) =>
    navButton(`#${c.title}${unreadLabel(c.unread)}`, s.current === c.id, () => a.open(c.id),
      h('span', { class: 'hash', 'aria-hidden': 'true' }, '#'), userText(c.title, 'nav-name'),
      c.unread > 0 ? badge(c.unread) : h('span', { class: 'nav-meta', 'aria-hidden': 'true' }, c.joined ? String(c.count) : '…'));

  const dmItem = (c: Conversation, s: ChatState) =>
    navButton(`${c.title}${c.gone ? ' (offline)' : ''}${unreadLabel(c.unread)}`, s.current === c.id, () => a.open(c.id),
      avatar(c.title, 'sm'), userText(c.title, `nav-name${c.gone ? ' gone' : ''}`), badge(c.unread));

  const memberItem = (m: Member, s: ChatState) => {
    if (m.ID === s.me) return h('li', { class: 'member self' }, avatar(m.Name, 'sm'), userText(m.Name, 'member-name'), h('span', { class: 'tag' }, 'you'));
    const b = h('button', { type: 'button', class: 'member', title: `Message ${isolate(m.Name)} privately`, 'aria-label': `Message ${m.Name}` },
      avatar(m.Name, 'sm'), userText(m.Name, 'member-name'));
    b.addEventListener('click', () => a.dm(m.ID, m.Name));
    return h('li', {}, b);
  };

  return (s: ChatState, now: number): void => {
    const p = last;
    last = s;
    if (s.name !== p?.name || s.link !== p?.link) {
      const edit = h('button', { type: 'button', class: 'icon-btn small', 'aria-label': 'Change name', title: 'Change name' }, '✎');
      edit.addEventListener('click', a.rename);
      const online = s.link.state === 'open';
      me.replaceChildren(avatar(s.name), h('div', { class: 'me-text' }, userText(s.name, 'me-name'),
        h('span', { class: `me-status ${online ? 'online' : 'offline'}` }, online ? 'Online' : 'Offline')), edit);
    }
    if (s.convs !== p?.convs || s.current !== p?.current || s.rooms !== p?.rooms) {
      const { rooms: rs, dms: ds } = conversationsInOrder(s);
      const cur = (c: Conversation) => (c.id === s.current ? '*' : '');
      syncList(rooms, rs, (c) => c.id, (c) => `${c.title}|${c.unread}|${c.count}|${c.joined}${cur(c)}`, (c) => roomItem(c, s));
      syncList(dms, ds, (c) => c.id, (c) => `${c.title}|${c.unread}|${c.gone}${cur(c)}`, (c) => dmItem(c, s));
      byId('dm-empty').hidden = ds.length > 0;
      const total = unreadTotal(s);
      const badgeEl = byId('sidebar-badge');
      badgeEl.hidden = [...s.convs.values()].every((c) => c.id === s.current || c.unread === 0);
      const here = s.convs.get(s.current);
      document.title = `${total > 0 ? `(${total}) ` : ''}${here ? (here.kind === 'room' ? `#${here.title}` : isolate(here.title)) + ' · ' : ''}rxchat`;
    }
    if (s.directory !== p?.directory || s.rooms !== p?.rooms || s.convs !== p?.convs) {
      // Rooms we mean to be in stay out of this list even while they are being rejoined.
      const others = s.directory.rooms.filter((r) => !s.rooms.includes(r.Room));
      syncList(dir, others, (r) => r.Room, (r) => String(r.Count), (r) =>
        navButton(`Join #${r.Room}, ${r.Count} member${r.Count === 1 ? '' : 's'}`, false, () => a.join(r.Room),
          h('span', { class: 'hash', 'aria-hidden': 'true' }, '#'), userText(r.Room, 'nav-name'),
          h('span', { class: 'nav-meta', 'aria-hidden': 'true' }, String(r.Count))));
      byId('public-empty').hidden = others.length > 0;
      const more = s.directory.total - s.directory.rooms.length;
      byId('room-total').textContent = more > 0 ? `(+${more} more)` : '';
    }
    const here = s.convs.get(s.current);
    const list = here?.kind === 'room' ? here.members : NO_MEMBERS;
    const count = here?.kind === 'room' ? here.count : 0;
    if (list !== shownMembers || count !== shownCount || s.me !== p?.me) {
      shownMembers = list;
      shownCount = count;
      // The list is the first 100 at most (protocol.md); the count is the room's.
      const sorted = [...list].sort((x, y) => (x.ID === s.me ? -1 : y.ID === s.me ? 1 : x.Name.localeCompare(y.Name)));
      syncList(members, sorted, (m) => m.ID, (m) => `${m.Name}|${m.ID === s.me}`, (m) => memberItem(m, s));
      const more = Math.max(0, count - list.length);
      membersMore.hidden = more === 0;
      membersMore.textContent = `and ${more} more`;
      byId('members-title').textContent = here?.kind === 'room' ? `Members · ${count}` : 'Members';
      byId('members-count').textContent = here?.kind === 'room' ? String(count) : '';
    }
    // The link: a banner while it is down, with a countdown to the next try.
    const l = s.link;
    banner.hidden = l.state === 'open';
    bannerBtn.hidden = l.state !== 'reconnecting' && l.state !== 'held';
    bannerBtn.textContent = l.state === 'held' ? 'Reconnect' : 'Retry now';
    banner.dataset.state = l.state;
    if (l.state === 'reconnecting') {
      const secs = Math.max(0, Math.ceil((l.retryAt - now) / 1000));
      bannerText.textContent = `Reconnecting… ${secs > 0 ? `next try in ${secs} s` : 'trying now'}`;
    } else if (l.state === 'connecting') {
      bannerText.textContent = l.attempt > 0 ? `Reconnecting… (attempt ${l.attempt + 1})` : 'Connecting…';
    } else if (l.state === 'stopped') {
      bannerText.textContent = l.reason;
    } else if (l.state === 'held') {
      bannerText.textContent = `${l.reason}. Not reconnecting by itself.`;
    }
    if (s.alert !== p?.alert) {
      alertBox.hidden = !s.alert;
      byId('alert-text').textContent = s.alert?.text ?? '';
    }
  };
}
