// Waiting for something another process or Redis does, with no event to await:
// poll, and fail naming what did not happen. Every wait in a test is bounded.

/** Resolves once `check` holds, polled every 10 ms; rejects after `ms`, naming `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
