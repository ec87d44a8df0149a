// The message box: Enter sends, Shift+Enter breaks the line, it grows with its
// text up to a limit, and Send is only offered when there is something to send.
import { byId } from './dom';
import { counterText, tooLong } from './text';

export interface ComposerDeps {
  send: (text: string) => void;
  canSend: () => boolean;
}

export function bindComposer(d: ComposerDeps) {
  const form = byId<HTMLFormElement>('composer');
  const box = byId<HTMLTextAreaElement>('message');
  const button = byId<HTMLButtonElement>('send');
  const count = byId('char-count');

  const fit = () => {
    // CSSOM writes are allowed by the page's CSP (style attributes in markup are not).
    box.style.height = 'auto';
    box.style.height = `${Math.min(box.scrollHeight, 200)}px`;
  };
  const refresh = () => {
    const text = box.value;
    button.disabled = !d.canSend() || text.trim() === '' || tooLong(text);
    count.textContent = counterText(text);
  };
  const submit = () => {
    if (button.disabled) return;
    d.send(box.value);
    box.value = '';
    fit();
    refresh();
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
    box.focus();
  });
  box.addEventListener('keydown', (ev) => {
    // isComposing: Enter that confirms an IME candidate is not a send.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      submit();
    }
  });
  box.addEventListener('input', () => {
    fit();
    refresh();
  });

  return {
    focus: () => box.focus({ preventScroll: true }),
    update: (placeholder: string) => {
      box.placeholder = placeholder;
      refresh();
    },
  };
}
