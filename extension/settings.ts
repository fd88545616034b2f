/** Typed access to the `balancedbio.*` settings declared in package.json `contributes.configuration`. */
import path from 'node:path';
import * as vscode from 'vscode';
import type { LogLevel } from './log';

export type BackendPreference = 'auto' | 'torch' | 'gpu' | 'native' | 'wasm' | 'cpu';

export interface Settings {
  backend: BackendPreference;
  /** `balancedbio.python`: the torch backend's interpreter ('' = BALANCEDBIO_PYTHON, else python3). */
  python: string;
  runsDirectory: string;
  ontologySources: string[];
  /** `balancedbio.allowedPaths`: folders experiments may reach besides their workspace folder. */
  allowedPaths: string[];
  logLevel: LogLevel;
  openDashboardOnRun: boolean;
  stepsScale: number;
}

export function readSettings(scope?: vscode.ConfigurationScope): Settings {
  const c = vscode.workspace.getConfiguration('balancedbio', scope);
  return {
    backend: c.get<BackendPreference>('engine.backend', 'auto'),
    python: c.get<string>('python', ''),
    runsDirectory: c.get<string>('runs.directory', 'runs'),
    ontologySources: c.get<string[]>('ontology.sources', []),
    allowedPaths: c.get<string[]>('allowedPaths', []).filter((p) => path.isAbsolute(p)),
    logLevel: c.get<LogLevel>('logLevel', 'info'),
    openDashboardOnRun: c.get<boolean>('dashboard.openOnRun', true),
    stepsScale: c.get<number>('runs.stepsScale', 1),
  };
}
