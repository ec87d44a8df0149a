// Building DOM without HTML strings: every piece of text becomes a Text node, so
// user text (names, messages, room names) can never be markup. There is no
// innerHTML anywhere in the client.

type Child = Node | string | false | null | undefined;
type Attrs = Record<string, string | number | boolean | undefined>;

/** h('li', { class: 'x', 'data-key': k }, 'text', otherNode) */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== false && c !== null && c !== undefined) el.append(c);
  return el;
}

export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};

interface Keyed {
  node: HTMLElement;
  sig: string;
}

/**
 * Makes a container's children match items, in order, rebuilding only the items whose
 * signature changed, and keeping keyboard focus on an item that was rebuilt.
 */
export function syncList<T>(
  container: HTMLElement,
  items: readonly T[],
  key: (t: T) => string,
  sig: (t: T) => string,
  build: (t: T, i: number) => HTMLElement,
): void {
  const known = (container as HTMLElement & { _keyed?: Map<string, Keyed> })._keyed ?? new Map<string, Keyed>();
  const next = new Map<string, Keyed>();
  const focusedKey = [...known].find(([, v]) => v.node.contains(document.activeElement))?.[0];
  items.forEach((item, i) => {
    const k = key(item);
    const s = sig(item);
    const old = known.get(k);
    const entry = old && old.sig === s ? old : { node: build(item, i), sig: s };
    entry.node.dataset.key = k;
    next.set(k, entry);
    if (old && old !== entry) old.node.remove();
    // Items 0..i-1 are in place, so slot i is the next child.
    const at = container.children[i] ?? null;
    if (at !== entry.node) container.insertBefore(entry.node, at);
  });
  for (const [k, v] of known) if (!next.has(k) && v.node.parentNode === container) v.node.remove();
  (container as HTMLElement & { _keyed?: Map<string, Keyed> })._keyed = next;
  if (focusedKey && next.has(focusedKey)) {
    const node = (next.get(focusedKey) as Keyed).node;
    if (!node.contains(document.activeElement)) (node.matches('button, a, [tabindex]') ? node : node.querySelector<HTMLElement>('button, a, [tabindex]'))?.focus();
  }
}

/**
 * A string someone else chose (a name, a line, a room name), bidi-isolated: <bdi
 * dir="auto"> takes its direction from its own first strong character, and whatever
 * bidi controls it holds (an old client's U+202E) end at its edge, so it cannot
 * reorder the words around it.
 */
export const userText = (text: string, cls?: string): HTMLElement => h('bdi', { dir: 'auto', class: cls }, text);

/** A circle with the name's first letter, coloured by a hash of the name. */
export function avatar(name: string, size: 'sm' | 'md' = 'md'): HTMLElement {
  const initial = [...name.trim()][0]?.toUpperCase() ?? '?';
  const el = h('span', { class: `avatar avatar-${size}`, 'aria-hidden': 'true' }, initial);
  // A CSSOM write, not a style attribute: the page's CSP forbids inline style markup.
  el.style.setProperty('--hue', String(hue(name)));
  return el;
}

export function hue(name: string): number {
  let x = 0;
  for (const ch of name) x = (x * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return x % 360;
}

/** A stroked 24×24 icon from one SVG path (icons are ours, never user text). */
export function icon(d: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}
