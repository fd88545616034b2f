/**
 * The BalancedBio language server. Entry of dist/server.js, started by the VS Code extension (IPC), by
 * `balancedbio lsp --stdio`, or by any LSP client (`node dist/server.js --stdio`). It starts fast: the
 * ontology index loads in a worker thread in the background, and runs are child processes.
 *
 * The same bundle is also the ontology worker's script: in a worker thread with the worker role it runs
 * the worker instead of a server, so the build needs no extra entry point.
 */
import { access } from 'node:fs/promises';
import os from 'node:os';
import { isMainThread, workerData } from 'node:worker_threads';
import {
  CodeActionKind,
  CodeLensRefreshRequest,
  createConnection,
  ProposedFeatures,
  StreamMessageReader,
  StreamMessageWriter,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { createConfigValidator } from '../engine/config/schema-validator';
import { DocumentAnalyzer } from './analysis';
import { ANALYSIS_WORKER_ROLE, runAnalysisWorker } from './analysis-worker';
import type { FeatureContext } from './features/context';
import { ontologyFilesOf } from './features/diagnostics';
import type { HandlerDeps, ServerState } from './handlers/deps';
import { registerDiagnostics } from './handlers/diagnostics';
import { registerLanguageFeatures } from './handlers/language';
import { registerOntology } from './handlers/ontology';
import { registerRuns } from './handlers/runs';
import { JobManager } from './job-manager';
import { WORKER_ROLE } from './ontology/messages';
import { OntologyService } from './ontology/service';
import { runOntologyWorker } from './ontology/worker';
import { builtinOntologyPath } from '../engine/ontology/builtin';
import { cliBinPath, findPackageRoot, isExperimentUri } from './paths';
import * as P from './protocol';
import { RunReader } from './runs';
import { pathPolicyOf, workspaceFoldersOf, type WorkspaceRoots } from './workspace';
import type { PathPolicy } from '../engine/config/paths';
import path from 'node:path';

const DEFAULT_DIAGNOSTICS_DELAY_MS = 150;
const WANTS_DELAY_MS = 300;
/** `balancedbio lsp --stdio --trusted`: trust the workspace when the client sends no `trusted` option. */
const TRUSTED_FLAG = '--trusted';

function hasTransportArg(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--stdio' || a === '--node-ipc' || a.startsWith('--socket') || a.startsWith('--pipe') || a.startsWith('--clientProcessId'));
}

function createTransport(): Connection {
  // no transport flag (e.g. `balancedbio lsp`): stdio, the one every editor supports
  if (hasTransportArg(process.argv)) return createConnection(ProposedFeatures.all);
  return createConnection(ProposedFeatures.all, new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
}

async function fileExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false; // absence is the answer
  }
}

export function startServer(): Connection {
  const connection = createTransport();
  const documents = new TextDocuments(TextDocument);
  const log = (m: string): void => connection.console.log(m);

  process.on('unhandledRejection', (e) => connection.console.error(`unhandled rejection: ${e instanceof Error ? e.stack ?? e.message : String(e)}`));
  process.on('uncaughtException', (e) => connection.console.error(`uncaught exception: ${e.stack ?? e.message}`));

  const state: ServerState = { trusted: true, pullDiagnostics: false, diagnosticsDelayMs: DEFAULT_DIAGNOSTICS_DELAY_MS, codeLensRefresh: false, diagnosticsRefresh: false, workDoneProgress: false };
  let deps: HandlerDeps | undefined;
  let builtin: string | undefined;
  let extraOntologies: string[] = [];

  const ontology = new OntologyService({
    workerScript: __filename,
    onStatus: (s) => void connection.sendNotification(P.ontologyStatusChanged, s).catch((e: unknown) => log(`status notification failed: ${String(e)}`)),
    onReady: () => deps?.revalidateAll(),
    log,
  });
  const runs = new RunReader();

  async function wantedSources(extraUri?: string): Promise<string[]> {
    const list = [...(builtin ? [builtin] : []), ...extraOntologies];
    const docs = documents.all().filter((d) => isExperimentUri(d.uri) || d.uri === extraUri);
    for (const doc of docs) list.push(...(await ontologyFilesOf(await ctx.analyzer.analyze(doc))));
    return [...new Set(list)];
  }
  let wantsTimer: NodeJS.Timeout | undefined;
  const updateWants = (): void => {
    if (wantsTimer) clearTimeout(wantsTimer);
    wantsTimer = setTimeout(() => {
      wantedSources().then((s) => ontology.want(s), (e: unknown) => log(`cannot collect ontology sources: ${String(e)}`));
    }, WANTS_DELAY_MS);
  };

  let ctx!: FeatureContext;

  connection.onInitialize(async (params: InitializeParams): Promise<InitializeResult> => {
    const opts = (params.initializationOptions ?? {}) as P.InitializationOptions;
    const caps = params.capabilities ?? {};
    // A client that says nothing about trust gets none: runs execute code named by experiment files
    // (custom reward modules), and an editor without a trust model cannot vouch for a cloned repository.
    state.trusted = typeof opts.trusted === 'boolean' ? opts.trusted : process.argv.includes(TRUSTED_FLAG);
    if (typeof opts.trusted !== 'boolean') log(`initializationOptions.trusted not given: runs are ${state.trusted ? `enabled (${TRUSTED_FLAG})` : `disabled; send trusted: true or start the server with ${TRUSTED_FLAG}`}`);
    state.pullDiagnostics = Boolean(caps.textDocument?.diagnostic);
    state.diagnosticsDelayMs = typeof opts.diagnosticsDelayMs === 'number' && opts.diagnosticsDelayMs >= 0 ? opts.diagnosticsDelayMs : DEFAULT_DIAGNOSTICS_DELAY_MS;
    state.codeLensRefresh = Boolean(caps.workspace?.codeLens?.refreshSupport);
    state.diagnosticsRefresh = Boolean(caps.workspace?.diagnostics?.refreshSupport);
    state.workDoneProgress = Boolean(caps.window?.workDoneProgress);
    extraOntologies = Array.isArray(opts.ontologies) ? opts.ontologies.filter((s): s is string => typeof s === 'string') : [];

    const root = await findPackageRoot(__dirname);
    const builtinPath = await builtinOntologyPath(__dirname);
    builtin = !opts.skipBuiltinOntology && (await fileExists(builtinPath)) ? builtinPath : undefined;
    if (!opts.skipBuiltinOntology && !builtin) log(`built-in ontology not found at ${builtinPath}`);

    const roots: WorkspaceRoots = { folders: workspaceFoldersOf(params), allowed: Array.isArray(opts.allowedPaths) ? opts.allowedPaths.filter((s): s is string => typeof s === 'string' && path.isAbsolute(s)) : [] };
    const pathPolicy = (file: string): PathPolicy => pathPolicyOf(roots, file);
    ctx = { analyzer: new DocumentAnalyzer(createConfigValidator(), pathPolicy, { workerScript: __filename, log, ...(typeof opts.analysisBudgetMs === 'number' && opts.analysisBudgetMs > 0 ? { budgetMs: opts.analysisBudgetMs } : {}) }), ontology, runs, machineMemoryBytes: os.totalmem(), pathPolicy, log };
    const jobs = new JobManager({
      binPath: cliBinPath(root),
      execPath: process.execPath,
      log,
      onEvent: (jobId, event) => void connection.sendNotification(P.runEvent, { jobId, event }).catch((e: unknown) => log(`runEvent failed: ${String(e)}`)),
      onState: (info) => {
        runs.invalidate();
        void connection.sendNotification(P.jobState, info).catch((e: unknown) => log(`jobState failed: ${String(e)}`));
        const ended = info.status === 'completed' || info.status === 'failed' || info.status === 'cancelled';
        if (ended && state.codeLensRefresh) void connection.sendRequest(CodeLensRefreshRequest.type).catch((e: unknown) => log(`code lens refresh failed: ${String(e)}`));
      },
      ...(state.workDoneProgress ? { createProgress: () => connection.window.createWorkDoneProgress() } : {}),
    });
    connection.onShutdown(async () => {
      await jobs.dispose();
      ontology.dispose();
      ctx.analyzer.dispose();
    });
    process.on('exit', () => jobs.killNow());

    const d: HandlerDeps = { connection, documents, ctx, jobs, state, revalidateAll: () => undefined };
    const scheduler = registerDiagnostics(d);
    d.revalidateAll = () => {
      scheduler.refreshAll();
      if (state.codeLensRefresh) void connection.sendRequest(CodeLensRefreshRequest.type).catch((e: unknown) => log(`code lens refresh failed: ${String(e)}`));
    };
    deps = d;
    registerLanguageFeatures(d);
    registerRuns(d);
    registerOntology(d, wantedSources);
    documents.onDidOpen((e) => {
      scheduler.schedule(e.document, { immediate: true });
      updateWants();
    });
    documents.onDidChangeContent((e) => {
      scheduler.schedule(e.document);
      updateWants();
    });
    documents.onDidClose((e) => {
      scheduler.clear(e.document.uri);
      ctx.analyzer.forget(e.document.uri);
    });

    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: false },
        completionProvider: { triggerCharacters: [':', ' ', '-', '/', '[', ',', '"', "'"], resolveProvider: true },
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
        documentSymbolProvider: true,
        executeCommandProvider: { commands: Object.values(P.ServerCommands) },
        ...(state.pullDiagnostics ? { diagnosticProvider: { identifier: 'balancedbio', interFileDependencies: false, workspaceDiagnostics: false } } : {}),
      },
      serverInfo: { name: 'balancedbio-language-server' },
    };
  });

  connection.onInitialized(() => {
    // the GPU probe goes first so it never waits behind a large ontology load in the worker
    void ontology.probeGpu().catch((e: unknown) => log(`GPU probe failed: ${String(e)}`));
    void wantedSources()
      .then((s) => ontology.want(s))
      .catch((e: unknown) => log(`ontology start failed: ${String(e)}`));
    ctx.analyzer.start();
  });

  documents.listen(connection);
  connection.listen();
  return connection;
}

const role = isMainThread ? undefined : (workerData as { role?: string } | null)?.role;
if (role === WORKER_ROLE) runOntologyWorker();
else if (role === ANALYSIS_WORKER_ROLE) runAnalysisWorker();
else if (require.main === module) startServer();
