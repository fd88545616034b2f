/**
 * The custom part of the BalancedBio language-server protocol: every method string, command id and
 * payload the extension (or any other client) may use beyond standard LSP. This is the only file with
 * custom method strings. It imports protocol types only (no server runtime), so `extension/` can import it:
 *
 *   client.sendRequest(P.startRun, { uri, stages: ['sft'] }, token)
 *   client.onNotification(P.runEvent, ({ jobId, event }) => …)
 *
 * Direction is in each doc comment: client → server (c→s) or server → client (s→c).
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { EngineEvent } from '../schemas/generated/events';

/** A pipeline stage name as the engine CLI's `--stages` accepts it. */
export type StageName = Exclude<NonNullable<EngineEvent['stage']>, 'run'>;

// ─── initialization ────────────────────────────────────────────────────────────────────────────────

/** `initializationOptions` the server understands; every field is optional. */
export interface InitializationOptions {
  /**
   * Whether the workspace is trusted. When `false`, runs are refused (the engine executes user reward
   * modules). Absent means untrusted unless the server was started with `--trusted`: a client with no
   * notion of trust (Neovim, Helix) must opt in explicitly.
   */
  trusted?: boolean;
  /** Extra OBO files (absolute paths) loaded into the shared ontology index besides the built-in graph. */
  ontologies?: string[];
  /** Debounce of push diagnostics after an edit, in ms (default 150). Pull diagnostics are not delayed. */
  diagnosticsDelayMs?: number;
  /** Skip the built-in clinical graph (default false; the experiment's `ontology.builtin` also decides). */
  skipBuiltinOntology?: boolean;
  /**
   * Absolute folders experiments may reach besides their workspace folder (`balancedbio.allowedPaths`).
   * Every path in an experiment must otherwise stay inside the workspace; the Hugging Face cache is always allowed.
   */
  allowedPaths?: string[];
  /**
   * How long the analysis of a large document (over 64 KiB, analysed in a worker thread) may take before it
   * stops with one "analysis stopped" diagnostic, in ms (default 1000).
   */
  analysisBudgetMs?: number;
}

// ─── runs (job manager) ────────────────────────────────────────────────────────────────────────────

export interface StartRunParams {
  /** The experiment document (`file:` URI of a saved *.bbio.yaml). */
  uri: string;
  /** Subset of stages (`--stages`); absent runs the file's `stages`. */
  stages?: StageName[];
  /** Run folder to continue (`--resume`), or `latest` for the newest run of this experiment. */
  resume?: string;
  /** `--steps-scale`: multiplies every step/example count (e.g. 0.1 for a smoke run). */
  stepsScale?: number;
}

export interface StartRunResult {
  /** Server-assigned id of the queued job; every later message about it carries this id. */
  jobId: string;
  /** 0 when it starts at once, n when n jobs are ahead of it in the queue. */
  position: number;
}

/**
 * c→s. Queue a run of the engine CLI (`balancedbio run FILE --json …`) as a child process. Fails with a
 * ResponseError when the workspace is untrusted, the file is not a saved `*.bbio.yaml`, or the open
 * document differs from the file on disk (save first).
 */
export const startRun = new RequestType<StartRunParams, StartRunResult, void>('balancedbio/startRun');

export interface CancelRunParams {
  jobId: string;
}
/**
 * c→s. Cancel a job: a queued job is dropped; a running one gets SIGTERM (the engine checkpoints and
 * stops), then SIGKILL after 5 s. `cancelled` is false when the job is unknown or already finished.
 */
export const cancelRun = new RequestType<CancelRunParams, { cancelled: boolean }, void>('balancedbio/cancelRun');

export interface RunEventParams {
  jobId: string;
  /** One line of the engine's `--json` stdout, as parsed (schemas/events.schema.json). */
  event: EngineEvent;
}
/** s→c. Every event the running engine prints (metrics, logs, phases, artifacts, errors), in order. */
export const runEvent = new NotificationType<RunEventParams>('balancedbio/runEvent');

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobInfo {
  jobId: string;
  uri: string;
  /** Absolute path of the experiment file. */
  file: string;
  status: JobStatus;
  stages?: StageName[];
  resume?: string;
  /** Known once the engine printed its first event. */
  runId?: string;
  /** Absolute run folder, once known. */
  runDir?: string;
  exitCode?: number | null;
  signal?: string | null;
  /** Why it failed or was refused, in one line (e.g. the engine's last error event). */
  message?: string;
  /** Epoch ms. */
  queuedAt: number;
  startedAt?: number;
  finishedAt?: number;
}
/** s→c. A job changed status (queued → running → completed | failed | cancelled). */
export const jobState = new NotificationType<JobInfo>('balancedbio/jobState');

/** c→s. Jobs known to this server (queued, running, and finished ones since start), newest first. */
export const listJobs = new RequestType<Record<string, never>, JobInfo[], void>('balancedbio/listJobs');

export interface ListRunsParams {
  /** The experiment document; its `output.runs_dir` (relative to the file) is listed. */
  uri: string;
}
export interface StageSummary {
  status: string;
  summary?: Record<string, number>;
  message?: string;
}
export interface RunSummary {
  runId: string;
  runDir: string;
  /** running | completed | failed | cancelled (state.json), or `interrupted (writer gone)` when it says running but its process is dead; absent when the folder is unreadable. */
  status?: string;
  name?: string;
  experimentFile?: string;
  createdAt?: string;
  updatedAt?: string;
  stages?: Partial<Record<StageName, StageSummary>>;
  /** Why the folder could not be read. */
  problem?: string;
}
/** c→s. Runs on disk for an experiment, newest first (engine/run/store listRuns). */
export const listRuns = new RequestType<ListRunsParams, { runsDir: string; runs: RunSummary[] }, void>('balancedbio/listRuns');

export interface SetTrustParams {
  trusted: boolean;
}
/** c→s. The workspace trust changed (VS Code: `workspace.onDidGrantWorkspaceTrust`). */
export const setTrust = new NotificationType<SetTrustParams>('balancedbio/setTrust');

// ─── ontology ──────────────────────────────────────────────────────────────────────────────────────

export interface OntologyStatus {
  state: 'idle' | 'loading' | 'ready' | 'failed';
  /** Files in the shared index (the built-in graph first). */
  sources: string[];
  termCount?: number;
  /** Wall time of the last load + index build. */
  loadMs?: number;
  /** Failure reason, or loader warnings summarised. */
  message?: string;
}
/** c→s. Current state of the shared ontology index. */
export const ontologyStatus = new RequestType<Record<string, never>, OntologyStatus, void>('balancedbio/ontologyStatus');
/** s→c. The index started loading, finished, or failed (the extension shows it in the status bar). */
export const ontologyStatusChanged = new NotificationType<OntologyStatus>('balancedbio/ontologyStatusChanged');

export interface ReloadOntologyParams {
  /** Also load the `ontology.sources` of this experiment document. */
  uri?: string;
}
/** c→s. Re-read every ontology file (after editing an .obo) and rebuild the index; resolves when ready. */
export const reloadOntology = new RequestType<ReloadOntologyParams, OntologyStatus, void>('balancedbio/reloadOntology');

export interface LookupTermParams {
  query: string;
  limit?: number;
  namespaces?: string[];
}
export interface TermMatchInfo {
  id: string;
  name: string;
  namespace?: string;
  matched: string;
  matchedKind: 'id' | 'name' | 'synonym';
  synonymScope?: string;
  score: number;
}
/** c→s. Ranked term search over the shared index (a "search ontology" picker). Empty while loading. */
export const lookupTerm = new RequestType<LookupTermParams, TermMatchInfo[], void>('balancedbio/lookupTerm');

// ─── memory estimate ───────────────────────────────────────────────────────────────────────────────

export interface MemoryEstimateInfo {
  totalBytes: number;
  parts: { weights: number; lora: number; optimizer: number; activations: number; kvCache: number };
  /** This machine's total memory (os.totalmem()). */
  machineBytes: number;
  /** totalBytes / machineBytes. */
  fraction: number;
}
/** c→s. Rough peak memory of running the document's experiment; null when the file does not load. */
export const memoryEstimate = new RequestType<{ uri: string }, MemoryEstimateInfo | null, void>('balancedbio/memoryEstimate');

export interface SlurmScriptParams {
  /** file: URI of a saved *.bbio.yaml experiment. */
  uri: string;
}
export interface SlurmScriptResult {
  /** The batch script `balancedbio run FILE --executor slurm` would submit now (from the saved file). */
  script: string;
  /** What the engine said besides (e.g. that a new sweep's folder is named when it starts). */
  notes: string[];
}
/** c→s. The Slurm batch script of an experiment, as `balancedbio slurm script FILE` prints it ("Show Slurm Script"). */
export const slurmScript = new RequestType<SlurmScriptParams, SlurmScriptResult, void>('balancedbio/slurmScript');

export interface CancelSlurmTaskParams {
  /** Path of a variant's run folder inside a sweep that went to Slurm (`<sweep>/<variant>/<run>`). */
  runDir: string;
}
export interface CancelSlurmTaskResult {
  /** The Slurm id scancel was sent to: `41_1` (an array task) or `41`. */
  slurmId: string;
  /** The task as sweep.json last recorded it: `Slurm 41_1 RUNNING on gpu08`. */
  task: string;
}
/**
 * c→s. scancel of the Slurm task running one sweep variant (a run the editor did not start: it runs on a compute
 * node). Needs a trusted workspace. The submitting process sees the task end and records it in sweep.json;
 * `run --resume SWEEP --executor slurm` resubmits it later.
 */
export const cancelSlurmTask = new RequestType<CancelSlurmTaskParams, CancelSlurmTaskResult, void>('balancedbio/cancelSlurmTask');

// ─── commands (workspace/executeCommand) ───────────────────────────────────────────────────────────

/**
 * Command ids the server executes (advertised in `executeCommandProvider`, used by its code lenses), so
 * "▶ Run" works in any LSP client. Arguments: `[StartRunParams]` for startRun, `[CancelRunParams]` for
 * cancelRun. The result is the same as the request of the same name.
 */
export const ServerCommands = {
  startRun: 'balancedbio.server.startRun',
  cancelRun: 'balancedbio.server.cancelRun',
} as const;
