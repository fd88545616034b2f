/**
 * Lets pending I/O and signal handlers run. Training loops are synchronous between awaits, so without this
 * a SIGTERM (cancel) would wait until the next checkpoint; every step calls it once (cost: microseconds).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
