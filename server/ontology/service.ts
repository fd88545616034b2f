/**
 * The shared ontology index, seen from the server thread: one worker thread holds the parsed files and the
 * TermIndex (see worker.ts); this class sends it queries and tracks its status. Loading happens in the
 * background: features ask `ready` and say "loading" instead of waiting.
 */
import { Worker } from 'node:worker_threads';
import type { CancellationToken } from 'vscode-languageserver';
import type { OntologyStatus, TermMatchInfo } from '../protocol';
import type { GpuProbe } from './gpu-probe';
import { WORKER_ROLE, type LoadResultMessage, type TermDetail, type TermResolution, type WorkerReply, type WorkerRequest } from './messages';

export interface OntologyServiceOptions {
  /** The script the worker runs: the server bundle itself (server.ts dispatches on workerData.role). */
  workerScript: string;
  onStatus(status: OntologyStatus): void;
  /** Called after each successful load (documents are re-validated). */
  onReady(): void;
  log(message: string): void;
  /** Answers whether the `gpu` backend loads here; by default the worker loads it (gpu-probe.ts). */
  probeGpu?: () => Promise<GpuProbe>;
}

export class OntologyService {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private current: OntologyStatus = { state: 'idle', sources: [] };
  private wanted: string[] = [];
  private loading: Promise<OntologyStatus> | undefined;
  private again = false;
  private gpu: Promise<GpuProbe> | undefined;

  constructor(private readonly opts: OntologyServiceOptions) {}

  get status(): OntologyStatus {
    return this.current;
  }

  get ready(): boolean {
    return this.current.state === 'ready';
  }

  /** Sets the files the index should hold; loads in the background when the set changed. */
  want(sources: readonly string[]): void {
    const next = [...new Set(sources)];
    if (next.length === this.wanted.length && next.every((s, i) => s === this.wanted[i])) return;
    this.wanted = next;
    void this.reload().catch((e: unknown) => this.opts.log(`ontology load failed: ${String(e)}`));
  }

  get wantedSources(): readonly string[] {
    return this.wanted;
  }

  /** (Re)loads every wanted file; concurrent calls coalesce into at most one more load. */
  reload(): Promise<OntologyStatus> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      let status: OntologyStatus;
      do {
        this.again = false;
        const sources = [...this.wanted];
        this.setStatus({ state: 'loading', sources, ...(this.current.termCount !== undefined ? { termCount: this.current.termCount } : {}) });
        try {
          const r = (await this.call({ op: 'load', sources })) as LoadResultMessage;
          const failures = r.failed.map((f) => f.message).join('; ');
          status = r.failed.length === sources.length && sources.length > 0
            ? { state: 'failed', sources, message: failures }
            : { state: 'ready', sources: sources.filter((s) => !r.failed.some((f) => f.source === s)), termCount: r.termCount, loadMs: r.loadMs, ...(failures ? { message: failures } : r.warnings ? { message: `${r.warnings} loader warning(s)` } : {}) };
        } catch (e) {
          status = { state: 'failed', sources, message: e instanceof Error ? e.message : String(e) };
        }
        this.setStatus(status);
      } while (this.again);
      return status;
    })().finally(() => {
      this.loading = undefined;
    });
    return this.loading.then((s) => {
      if (s.state === 'ready') this.opts.onReady();
      return s;
    });
  }

  /** Resolves once a load finished (ready or failed); immediately when not loading. */
  async settled(): Promise<OntologyStatus> {
    while (this.loading) await this.loading;
    return this.current;
  }

  async lookup(query: string, opts: { limit: number; namespaces?: string[] }, token?: CancellationToken): Promise<TermMatchInfo[] | 'loading'> {
    if (!this.ready) return 'loading';
    const r = (await this.call({ op: 'lookup', query, limit: opts.limit, ...(opts.namespaces ? { namespaces: opts.namespaces } : {}) })) as TermMatchInfo[];
    return token?.isCancellationRequested ? [] : r;
  }

  /** Known/unknown with a suggestion for each term; undefined while the index is not ready. */
  async resolve(terms: string[]): Promise<TermResolution[] | undefined> {
    if (!this.ready) return undefined;
    return (await this.call({ op: 'resolve', terms })) as TermResolution[];
  }

  async describe(query: string): Promise<TermDetail | null | undefined> {
    if (!this.ready) return undefined;
    return (await this.call({ op: 'describe', query })) as TermDetail | null;
  }

  /** Whether `@tensorflow/tfjs-node-gpu` loads; asked once, off the server thread. */
  probeGpu(): Promise<GpuProbe> {
    this.gpu ??= this.opts.probeGpu ? this.opts.probeGpu() : (this.call({ op: 'probeGpu' }) as Promise<GpuProbe>);
    return this.gpu;
  }

  dispose(): void {
    const w = this.worker;
    this.worker = undefined;
    if (w) void w.terminate().catch((e: unknown) => this.opts.log(`ontology worker did not stop: ${String(e)}`));
  }

  private setStatus(s: OntologyStatus): void {
    this.current = s;
    this.opts.onStatus(s);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.opts.workerScript, { workerData: { role: WORKER_ROLE } });
    w.unref();
    w.on('message', (m: WorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    });
    const fail = (why: string): void => {
      if (this.worker === w) this.worker = undefined;
      this.opts.log(`ontology worker stopped: ${why}`);
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new Error(`ontology worker stopped: ${why}`));
      }
    };
    w.on('error', (e) => fail(e.message));
    w.on('exit', (code) => fail(`exit code ${code}`));
    this.worker = w;
    return w;
  }

  private call(req: WorkerRequest): Promise<unknown> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, req });
    });
  }
}
