/**
 * Webview entry (bundled to dist/webview.js as a browser IIFE, uPlot and its CSS included): picks the
 * view from <body data-view>, routes host messages to it, and tells the host it is ready.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import type { HostToCompare, HostToDashboard, HostToInspector } from '../messages';
import { Compare } from './compare';
import { Dashboard } from './dashboard';
import { Inspector } from './inspector';
import { getApi } from './vscode-api';

function start(): void {
  const root = document.getElementById('app');
  if (!root) return;
  const view = document.body.dataset['view'];
  const api = getApi<{ type: 'ready' } | { type: 'log'; level: 'error'; message: string }, unknown>();
  window.addEventListener('error', (e) => api.post({ type: 'log', level: 'error', message: `${e.message} (${e.filename}:${e.lineno})` }));
  if (view === 'compare') {
    const c = new Compare(root);
    window.addEventListener('message', (e: MessageEvent<HostToCompare>) => c.handle(e.data));
  } else if (view === 'inspector') {
    const i = new Inspector(root);
    window.addEventListener('message', (e: MessageEvent<HostToInspector>) => i.handle(e.data));
  } else {
    const d = new Dashboard(root);
    window.addEventListener('message', (e: MessageEvent<HostToDashboard>) => d.handle(e.data));
  }
  api.post({ type: 'ready' });
}

start();
