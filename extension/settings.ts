/** Typed access to the `balancedbio.*` settings declared in package.json `contributes.configuration`. */
import * as vscode from 'vscode';
import type { LogLevel } from './log';

export type BackendPreference = 'auto' | 'gpu' | 'native' | 'wasm' | 'cpu';

export interface Settings {
  backend: BackendPreference;
  runsDirectory: string;
  ontologySources: string[];
  logLevel: LogLevel;
  openDashboardOnRun: boolean;
  stepsScale: number;
}

export function readSettings(scope?: vscode.ConfigurationScope): Settings {
  const c = vscode.workspace.getConfiguration('balancedbio', scope);
  return {
    backend: c.get<BackendPreference>('engine.backend', 'auto'),
    runsDirectory: c.get<string>('runs.directory', 'runs'),
    ontologySources: c.get<string[]>('ontology.sources', []),
    logLevel: c.get<LogLevel>('logLevel', 'info'),
    openDashboardOnRun: c.get<boolean>('dashboard.openOnRun', true),
    stepsScale: c.get<number>('runs.stepsScale', 1),
  };
}
