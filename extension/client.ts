/**
 * The language client: starts dist/server.js over IPC and exposes the custom protocol of
 * server/protocol.ts as typed methods. "The client is running" is a type: callers get a `ServerApi` only
 * from a started client, so no command can send a request to a server that is not there.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, State, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import * as P from '../server/protocol';
import { describeError, type Log } from './log';
import type { Settings } from './settings';

export const DOCUMENT_SELECTOR = [
  { language: 'bbio-yaml', scheme: 'file' },
  { language: 'bbio-yaml', scheme: 'untitled' },
];

export interface ServerApi {
  startRun(params: P.StartRunParams, token?: vscode.CancellationToken): Promise<P.StartRunResult>;
  cancelRun(jobId: string): Promise<{ cancelled: boolean }>;
  listJobs(): Promise<P.JobInfo[]>;
  listRuns(uri: string): Promise<{ runsDir: string; runs: P.RunSummary[] }>;
  reloadOntology(uri?: string): Promise<P.OntologyStatus>;
  slurmScript(uri: string): Promise<P.SlurmScriptResult>;
  cancelSlurmTask(runDir: string): Promise<P.CancelSlurmTaskResult>;
  setTrust(trusted: boolean): Promise<void>;
  onRunEvent(listener: (p: P.RunEventParams) => void): vscode.Disposable;
  onJobState(listener: (p: P.JobInfo) => void): vscode.Disposable;
  onOntologyStatus(listener: (p: P.OntologyStatus) => void): vscode.Disposable;
}

/** Absolute paths of the configured ontology files (workspace-relative ones resolve against the first folder). */
function ontologyPaths(settings: Settings): string[] {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return settings.ontologySources.map((p) => (path.isAbsolute(p) || !root ? p : path.join(root, p)));
}

export async function startLanguageClient(context: vscode.ExtensionContext, log: Log, settings: Settings): Promise<{ client: LanguageClient; api: ServerApi }> {
  const module = context.asAbsolutePath(path.join('dist', 'server.js'));
  // The backend preference travels as an environment variable to the server and the engine processes it
  // spawns (the run protocol has no backend field); the experiment's own model.backend still wins. The
  // torch backend's interpreter travels the same way (pythonCommand in engine/compute/torch/worker-process.ts).
  const env = { ...process.env, BALANCEDBIO_BACKEND: settings.backend, ...(settings.python ? { BALANCEDBIO_PYTHON: settings.python } : {}) };
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc, options: { env } },
    debug: { module, transport: TransportKind.ipc, options: { env, execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const initializationOptions: P.InitializationOptions = {
    trusted: vscode.workspace.isTrusted,
    ontologies: ontologyPaths(settings),
    allowedPaths: settings.allowedPaths,
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: log.channel,
    initializationOptions,
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.obo') },
  };
  const client = new LanguageClient('balancedbio', 'BalancedBio Language Server', serverOptions, clientOptions);
  client.onDidChangeState((e) => {
    if (e.newState === State.Stopped) log.warn('language server stopped');
  });
  await client.start();
  log.info(`language server started (${module})`);

  const api: ServerApi = {
    startRun: (params, token) => client.sendRequest(P.startRun, params, token),
    cancelRun: (jobId) => client.sendRequest(P.cancelRun, { jobId }),
    listJobs: () => client.sendRequest(P.listJobs, {}),
    listRuns: (uri) => client.sendRequest(P.listRuns, { uri }),
    reloadOntology: (uri) => client.sendRequest(P.reloadOntology, uri ? { uri } : {}),
    slurmScript: (uri) => client.sendRequest(P.slurmScript, { uri }),
    cancelSlurmTask: (runDir) => client.sendRequest(P.cancelSlurmTask, { runDir }),
    setTrust: (trusted) => client.sendNotification(P.setTrust, { trusted }),
    onRunEvent: (listener) => client.onNotification(P.runEvent, listener),
    onJobState: (listener) => client.onNotification(P.jobState, listener),
    onOntologyStatus: (listener) => client.onNotification(P.ontologyStatusChanged, listener),
  };
  return { client, api };
}

/** Activation failed: say so in one line, with a button to the logs that hold the details. */
export async function reportStartFailure(log: Log, err: unknown): Promise<void> {
  log.error('the BalancedBio language server could not start', err);
  const choice = await vscode.window.showErrorMessage(
    `BalancedBio: the language server could not start (${describeError(err)}). Validation, completion and runs are unavailable.`,
    'Show Logs',
  );
  if (choice === 'Show Logs') log.show();
}
