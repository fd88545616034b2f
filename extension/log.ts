/**
 * The "BalancedBio" output channel: the extension's own messages, the language server's log (the client
 * writes there too) and the engine's log events of runs started from this window.
 * `balancedbio.logLevel` filters what the extension writes; the channel's own level menu still applies.
 */
import * as vscode from 'vscode';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;
  private level: LogLevel;

  constructor(level: LogLevel) {
    this.channel = vscode.window.createOutputChannel('BalancedBio', { log: true });
    this.level = level;
  }

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  debug(msg: string): void {
    if (RANK[this.level] <= RANK.debug) this.channel.debug(msg);
  }
  info(msg: string): void {
    if (RANK[this.level] <= RANK.info) this.channel.info(msg);
  }
  warn(msg: string): void {
    if (RANK[this.level] <= RANK.warn) this.channel.warn(msg);
  }
  error(msg: string, err?: unknown): void {
    this.channel.error(err === undefined ? msg : `${msg}: ${describeError(err)}`);
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}

export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}
