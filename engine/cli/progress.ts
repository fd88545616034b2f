/**
 * Human progress for `balancedbio run`: a progress bar per stage on a terminal (cli-progress), plain
 * lines otherwise (CI logs, pipes). Reads only phase/log/error events.
 */
import cliProgress from 'cli-progress';
import type { EngineEvent } from '../../schemas/generated/events';
import type { CliIo } from './io';

export interface ProgressView {
  onEvent(e: EngineEvent): void;
  stop(): void;
}

export function createProgressView(io: CliIo): ProgressView {
  let bar: cliProgress.SingleBar | undefined;
  let barStage: string | undefined;
  let lastPlainPct = -1;
  const stopBar = (): void => {
    bar?.stop();
    bar = undefined;
    barStage = undefined;
  };
  return {
    onEvent(e) {
      if (e.kind === 'phase' && e.status === 'progress' && e.stage && e.total) {
        const step = e.step ?? 0;
        if (io.isTTY) {
          if (barStage !== e.stage) {
            stopBar();
            bar = new cliProgress.SingleBar({ format: `${e.stage.padEnd(10)} [{bar}] {value}/{total} {percentage}% · ETA {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
            bar.start(e.total, step);
            barStage = e.stage;
          } else {
            bar?.update(step);
          }
        } else {
          const pct = Math.floor((100 * step) / e.total / 10) * 10;
          if (pct !== lastPlainPct) {
            lastPlainPct = pct;
            io.err(`${e.stage}: ${step}/${e.total} (${pct}%)`);
          }
        }
        return;
      }
      if (e.kind === 'phase') {
        if (e.status !== 'progress' && e.stage === barStage) stopBar();
        lastPlainPct = -1;
        if (e.status !== 'progress') io.err(`[${e.stage}] ${e.status}${e.message ? `: ${e.message}` : ''}`);
      } else if (e.kind === 'log' && e.level !== 'debug') {
        if (bar) stopBar();
        io.err(`${e.level === 'info' ? '' : e.level + ': '}${e.msg}`);
      } else if (e.kind === 'error') {
        stopBar();
        io.err(`error ${e.code} ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
      }
    },
    stop: stopBar,
  };
}
