/**
 * Follows a growing file by polling its size, for runs whose writer is on another machine.
 *
 * File-system watchers (inotify on Linux, which VS Code's watcher uses) only see writes made through the
 * local kernel: a variant running on a Slurm compute node appends to events.jsonl over NFS or Lustre, and
 * the submit host's watcher never fires. So a dashboard also polls the file's size while its run is live,
 * and stops once the run has ended. One `stat` every interval per open dashboard costs next to nothing.
 * Pure (no vscode): the stat function and the timers are injected, so the unit tests drive it.
 */

export interface FollowerOptions {
  /** The file's size in bytes, or undefined while it does not exist. */
  size(): Promise<number | undefined>;
  /** Called when the size changed since the last poll (grew, or shrank because the file was replaced). */
  onChange(): void;
  /** Reports a failed stat; polling goes on (a network filesystem may fail for a moment). */
  onError(e: unknown): void;
  intervalMs: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class SizeFollower {
  private lastSize: number | undefined;
  private timer: unknown;
  private running = false;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly opts: FollowerOptions) {
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  get active(): boolean {
    return this.running;
  }

  /**
   * Polls from `knownSize` (the bytes already read), so what is already shown does not count as a change.
   * Called again after every read (the watcher may have triggered it): it only moves the known size on.
   */
  start(knownSize: number | undefined): void {
    this.lastSize = knownSize;
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** One poll (the timer calls it; exposed for tests). */
  async poll(): Promise<void> {
    this.timer = undefined;
    try {
      const size = await this.opts.size();
      if (size !== this.lastSize) {
        this.lastSize = size;
        if (this.running) this.opts.onChange();
      }
    } catch (e) {
      this.opts.onError(e);
    }
    if (this.running) this.schedule();
  }

  private schedule(): void {
    this.timer = this.setTimer(() => this.poll().catch((e: unknown) => this.opts.onError(e)), this.opts.intervalMs);
  }
}
