/**
 * A stand-in for Red Hat's YAML extension (redhat.vscode-yaml) in the editor tests, which cannot download
 * it (see README.md beside this file). Our own thin client around Red Hat's real language server,
 * yaml-language-server from npm, doing what Red Hat's client does for the part under test: start the
 * server over Node IPC for the YAML language ids Red Hat's client selects, and send it every installed
 * extension's `contributes.yamlValidation` as schema associations. It is not Red Hat's extension.
 */
import * as vscode from 'vscode';
import { LanguageClient, NotificationType, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

/** One association as yaml-language-server's `json/schemaAssociations` takes it (its array form). */
interface SchemaAssociation {
  fileMatch: string[];
  uri: string;
}

const schemaAssociations = new NotificationType<SchemaAssociation[]>('json/schemaAssociations');

/**
 * The language ids Red Hat's client (1.25.0) hands to the server. By language id only: a file another
 * extension gives its own language id never reaches yaml-language-server, whatever its file name.
 */
const YAML_LANGUAGE_IDS = [
  'yaml',
  'yaml-textmate',
  'yaml-tmlanguage',
  'ansible',
  'azure-pipelines',
  'dockercompose',
  'github-actions-workflow',
  'home-assistant',
  'manifest-yaml',
  'spring-boot-properties-yaml',
];

interface YamlValidationEntry {
  fileMatch?: unknown;
  url?: unknown;
}

/**
 * The `yamlValidation` contributions of all installed extensions, normalised as Red Hat's client does:
 * `./` URLs resolve against the contributing extension's folder; a `fileMatch` that is not absolute, a
 * negation or a URI gets a leading `/` (the server then matches it as `**\/<pattern>`).
 */
function collectSchemaAssociations(all: readonly vscode.Extension<unknown>[]): SchemaAssociation[] {
  const associations: SchemaAssociation[] = [];
  for (const ext of all) {
    const entries = (ext.packageJSON as { contributes?: { yamlValidation?: unknown } } | undefined)?.contributes?.yamlValidation;
    if (!Array.isArray(entries)) continue;
    for (const entry of entries as YamlValidationEntry[]) {
      const patterns = typeof entry.fileMatch === 'string' ? [entry.fileMatch] : entry.fileMatch;
      if (!Array.isArray(patterns) || typeof entry.url !== 'string') continue;
      const uri = entry.url.startsWith('./') ? vscode.Uri.joinPath(ext.extensionUri, entry.url).toString() : entry.url;
      const fileMatch = patterns
        .filter((p): p is string => typeof p === 'string')
        .map((p) => {
          if (p.startsWith('%')) {
            return p.replace('%APP_SETTINGS_HOME%', '/User').replace('%MACHINE_SETTINGS_HOME%', '/Machine').replace('%APP_WORKSPACES_HOME%', '/Workspaces');
          }
          return /^(\w+:\/\/|\/|!)/.test(p) ? p : `/${p}`;
        });
      associations.push({ fileMatch, uri });
    }
  }
  return associations;
}

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  // Named so that the tests can find its log among the extension host's output channels.
  const channel = vscode.window.createOutputChannel('YAML Support (stand-in)');
  context.subscriptions.push(channel);
  const module = context.asAbsolutePath('node_modules/yaml-language-server/out/server/src/server.js');
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: YAML_LANGUAGE_IDS.map((language) => ({ language })),
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('{**/*.json,**/*.yaml,**/*.eyaml,**/*.yml}') },
    outputChannel: channel,
  };
  client = new LanguageClient('yaml-standin', 'YAML Support (stand-in)', serverOptions, clientOptions);
  await client.start();
  const running = client;
  const send = (): Promise<void> => {
    const associations = collectSchemaAssociations(vscode.extensions.all);
    // one JSON line the tests read back: what the server was told, not what we meant to tell it
    channel.appendLine(`json/schemaAssociations ${JSON.stringify(associations)}`);
    return running.sendNotification(schemaAssociations, associations);
  };
  const report = (e: unknown): void => channel.appendLine(`[error] sending schema associations: ${String(e)}`);
  await send();
  context.subscriptions.push(vscode.extensions.onDidChange(() => void send().catch(report)));
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
