/**
 * Where the experiments of this session may reach (engine/config/paths.ts): the workspace folder that
 * holds the document, plus the folders of the `balancedbio.allowedPaths` setting. A document outside
 * every workspace folder (a single file opened on its own, an untitled buffer) gets its own folder as its
 * workspace, so even then `../../etc/passwd` and `/etc/shadow` are refused.
 */
import path from 'node:path';
import type { InitializeParams } from 'vscode-languageserver';
import type { PathPolicy } from '../engine/config/paths';
import { uriToPath } from './paths';

export interface WorkspaceRoots {
  folders: readonly string[];
  allowed: readonly string[];
}

/** The workspace folders the client announced (workspaceFolders, else the deprecated rootUri / rootPath). */
export function workspaceFoldersOf(params: Pick<InitializeParams, 'workspaceFolders' | 'rootUri' | 'rootPath'>): string[] {
  const folders = (params.workspaceFolders ?? []).filter((f) => typeof f?.uri === 'string' && f.uri.startsWith('file:')).map((f) => uriToPath(f.uri));
  if (folders.length) return folders;
  if (typeof params.rootUri === 'string' && params.rootUri.startsWith('file:')) return [uriToPath(params.rootUri)];
  return typeof params.rootPath === 'string' && params.rootPath ? [path.resolve(params.rootPath)] : [];
}

function isWithin(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The policy of one experiment file: the innermost workspace folder holding it, else its own folder. */
export function pathPolicyOf(roots: WorkspaceRoots, file: string): PathPolicy {
  const abs = path.resolve(file);
  const holding = roots.folders.filter((f) => isWithin(abs, path.resolve(f))).sort((a, b) => b.length - a.length);
  return { workspace: [holding[0] ?? path.dirname(abs)], allowed: roots.allowed };
}
