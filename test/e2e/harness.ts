/**
 * Drives a real VS Code (code-server 4.100.3 = VS Code 1.100.3) in Debian's Chromium through
 * playwright-core, with the extension installed from the packaged VSIX into a fresh extensions dir and a
 * fresh user-data-dir per session (see ../shared/vscode-tests.md). scripts/test-e2e.sh installs
 * code-server and builds the VSIX, and passes their paths in BBIO_CODE_SERVER / BBIO_VSIX.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';

const execFileP = promisify(execFile);
export const ROOT = path.resolve(__dirname, '../..');
export const RESULTS = path.join(ROOT, 'test-results');
const CODE_SERVER = process.env['BBIO_CODE_SERVER'] ?? path.join(ROOT, '.cache/code-server/node_modules/.bin/code-server');
const VSIX = process.env['BBIO_VSIX'] ?? path.join(ROOT, 'dist/balancedbio-studio.vsix');
const CHROMIUM = process.env['BBIO_CHROMIUM'] ?? '/usr/bin/chromium';

/** Why the editor tests cannot run here, or undefined when they can. */
export function missingPrerequisite(): string | undefined {
  if (!existsSync(CODE_SERVER)) return `code-server not installed at ${CODE_SERVER} (run bash scripts/test-e2e.sh)`;
  if (!existsSync(VSIX)) return `no VSIX at ${VSIX} (run bash scripts/test-e2e.sh)`;
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves when `probe` returns a truthy value; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

export interface SessionOptions {
  /** The folder to open (absolute). */
  workspace: string;
  /** Leave workspace trust enabled with the folder untrusted (Restricted Mode). */
  untrusted?: boolean;
  /** Extra user settings. */
  settings?: Record<string, unknown>;
  /** More VSIX files to install into the session's extensions dir after the extension under test. */
  otherExtensions?: string[];
}

export class EditorSession {
  readonly logs: string[] = [];
  private constructor(
    readonly page: Page,
    private readonly browser: Browser,
    private readonly server: ChildProcess,
    private readonly tmp: string,
    readonly port: number,
  ) {}

  static async start(opts: SessionOptions): Promise<EditorSession> {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'bbio-e2e-'));
    const userData = path.join(tmp, 'user-data');
    const extensions = path.join(tmp, 'extensions');
    const config = path.join(tmp, 'config.yaml');
    await mkdir(path.join(userData, 'User'), { recursive: true });
    await mkdir(extensions, { recursive: true });
    await writeFile(config, 'auth: none\ncert: false\n');
    const settings = {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
      'git.enabled': false,
      'window.restoreWindows': 'none',
      'security.workspace.trust.enabled': Boolean(opts.untrusted),
      'security.workspace.trust.startupPrompt': 'never',
      'security.workspace.trust.emptyWindow': false,
      'editor.quickSuggestions': { other: false, comments: false, strings: false },
      'editor.codeLens': true,
      'files.autoSave': 'off',
      ...opts.settings,
    };
    await writeFile(path.join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
    const common = ['--user-data-dir', userData, '--extensions-dir', extensions, '--config', config, '--disable-telemetry', '--disable-update-check'];
    await execFileP(CODE_SERVER, [...common, '--install-extension', VSIX], { timeout: 60_000 });
    for (const vsix of opts.otherExtensions ?? []) await execFileP(CODE_SERVER, [...common, '--install-extension', vsix], { timeout: 60_000 });
    const port = await freePort();
    const args = [...common, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', ...(opts.untrusted ? [] : ['--disable-workspace-trust']), opts.workspace];
    const server = spawn(CODE_SERVER, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const serverLog: string[] = [];
    server.stdout?.on('data', (d: Buffer) => serverLog.push(d.toString()));
    server.stderr?.on('data', (d: Buffer) => serverLog.push(d.toString()));
    try {
      await waitFor(`code-server on port ${port}`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 60_000, 250);
    } catch (e) {
      killGroup(server);
      throw new Error(`${String(e)}\ncode-server output:\n${serverLog.join('')}`);
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const session = new EditorSession(page, browser, server, tmp, port);
    page.on('console', (m) => session.logs.push(`[${m.type()}] ${m.text()}`));
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(opts.workspace)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    await page.waitForSelector('.statusbar', { timeout: 60_000 });
    return session;
  }

  async screenshot(name: string): Promise<string> {
    await mkdir(RESULTS, { recursive: true });
    const file = path.join(RESULTS, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Runs a command through the command palette by its title (e.g. "BalancedBio: Run Experiment"). */
  async runCommand(title: string): Promise<void> {
    const page = this.page;
    await this.dismissNotifications();
    // keys typed while a webview iframe has focus go to the webview: give focus back to the workbench
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    await page.keyboard.press('Enter');
  }

  /** Chooses an entry of an open quick pick by its label. */
  async pickQuickItem(label: string | RegExp): Promise<void> {
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    await row.click();
  }

  /** Opens a workspace file through Quick Open and waits for its editor tab. */
  async openFile(relPath: string): Promise<void> {
    const page = this.page;
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(relPath);
    const base = path.basename(relPath);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: base }).first().waitFor({ timeout: 15_000 });
    await page.keyboard.press('Enter');
    await page.locator('.tabs-container .tab', { hasText: base }).first().waitFor({ timeout: 15_000 });
    await page.locator('.monaco-editor .view-lines').first().waitFor({ timeout: 15_000 });
  }

  async dismissNotifications(): Promise<void> {
    const clear = this.page.locator('.notifications-toasts .codicon-notifications-clear-all, .notification-toast .codicon-notifications-clear');
    if ((await clear.count()) > 0) await this.page.keyboard.press('Escape');
  }

  /** The text of every visible notification toast. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts();
  }

  /** The frame of a BalancedBio webview (`dashboard` or `compare`) once its script has rendered. */
  async webviewFrame(view: 'dashboard' | 'compare' | 'inspector', timeoutMs = 30_000): Promise<Frame> {
    return waitFor(`the ${view} webview`, async () => {
      for (const f of this.page.frames()) {
        try {
          if (await f.$(`body[data-view="${view}"] #app > :not(.empty-state)`)) return f;
        } catch {
          // a frame navigating away while we look is not an error; the next poll sees the new one
          continue;
        }
      }
      return undefined;
    }, timeoutMs);
  }

  /** The webview frame whose `selector` element contains `text` (several webviews may be open at once). */
  async frameShowing(selector: string, text: string, timeoutMs = 60_000): Promise<Frame> {
    return waitFor(`a webview showing ${text}`, async () => {
      for (const f of this.page.frames()) {
        try {
          if ((await f.locator(selector, { hasText: text }).count()) > 0) return f;
        } catch {
          continue; // a frame went away mid-probe; look again
        }
      }
      return undefined;
    }, timeoutMs);
  }

  /** Shows the BalancedBio Runs view; its activity-bar icon toggles, so it is clicked only when `shownRow` is hidden. */
  async showRunsView(shownRow: string): Promise<void> {
    if (await this.page.locator('.part.sidebar .monaco-list-row', { hasText: shownRow }).first().isVisible()) return;
    await this.page.locator('.activitybar .action-item a[aria-label^="BalancedBio"]').first().click();
  }

  /** Clicks the inline action `action` (its aria-label, e.g. "Open Dashboard") of the Runs view row showing `rowText`. */
  async runRowAction(rowText: string, action: string): Promise<void> {
    const row = this.page.locator('.monaco-list-row', { hasText: rowText }).first();
    await row.waitFor({ timeout: 60_000 });
    await row.click();
    await row.hover();
    await row.locator(`.action-label[aria-label*="${action}"]`).first().click();
  }

  /**
   * The session's log files whose path under user-data/logs matches `name` (e.g. `exthost1/remoteexthost.log`,
   * an extension's output channel under `exthost1/output_logging_<time>/`), with their text so far.
   */
  async readLogs(name: RegExp): Promise<{ file: string; text: string }[]> {
    const dir = path.join(this.tmp, 'user-data', 'logs');
    if (!existsSync(dir)) return [];
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.log') && name.test(f)).sort();
    return Promise.all(files.map(async (file) => ({ file, text: await readFile(path.join(dir, file), 'utf8') })));
  }

  async stop(): Promise<void> {
    await this.browser.close().catch((e: unknown) => console.error(`closing chromium: ${String(e)}`));
    killGroup(this.server);
    await rm(this.tmp, { recursive: true, force: true, maxRetries: 3 }).catch((e: unknown) => console.error(`removing ${this.tmp}: ${String(e)}`));
  }
}

/** code-server leaves a file-watcher child behind unless the whole process group is stopped. */
function killGroup(p: ChildProcess): void {
  if (p.pid === undefined || p.exitCode !== null) return;
  try {
    process.kill(-p.pid, 'SIGTERM');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') console.error(`stopping code-server: ${String(e)}`);
  }
}

/** A fresh workspace: experiments/quickstart.bbio.yaml (runs go to ./runs) plus any extra files. */
export async function makeWorkspace(files: Record<string, string> = {}): Promise<string> {
  const ws = await mkdtemp(path.join(os.tmpdir(), 'bbio-ws-'));
  await mkdir(path.join(ws, 'experiments'), { recursive: true });
  const quickstart = await readFile(path.join(ROOT, 'examples/quickstart.bbio.yaml'), 'utf8');
  // the modeline points into the repository's schemas/ folder; in this workspace the extension's
  // yamlValidation and the server's fileMatch supply the schema instead
  await writeFile(path.join(ws, 'experiments/quickstart.bbio.yaml'), quickstart.replace(/^# yaml-language-server:.*\n/, ''));
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(ws, rel)), { recursive: true });
    await writeFile(path.join(ws, rel), text);
  }
  return ws;
}

export async function copyFixture(name: string, dest: string): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  await copyFile(path.join(__dirname, 'fixtures', name), dest);
}
