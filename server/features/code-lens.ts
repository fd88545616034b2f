/**
 * Code lenses: "▶ Run" and "▶ Run from here" above each stage section, the latest run's result for that
 * stage once a run exists (report.json scores for `eval`, else the stage summary from state.json), and the
 * memory estimate above `model` and `grpo`. Run lenses use the server's own command so they work in any
 * LSP client.
 */
import path from 'node:path';
import type { CancellationToken, CodeLens, Range } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { ServerCommands, type StartRunParams } from '../protocol';
import { formatScores, formatSummary, type LatestRun } from '../runs';
import { topLevelPairs } from '../yaml-context';
import { throwIfCancelled, type FeatureContext } from './context';
import { formatEstimate, memoryEstimateOf } from './memory';
import { STAGE_ORDER } from '../../schemas/generated/vocabulary';
import { SECTION_STAGES } from './stages';

export async function codeLenses(doc: TextDocument, ctx: FeatureContext, token: CancellationToken): Promise<CodeLens[]> {
  const tree = ctx.analyzer.tree(doc);
  if (!tree) return [];
  const analysis = await ctx.analyzer.analyze(doc);
  throwIfCancelled(token);
  const config = analysis.config;
  const stages = config?.stages ?? [...STAGE_ORDER];
  let latest: LatestRun | undefined;
  if (config) {
    try {
      latest = await ctx.runs.latest(path.resolve(path.dirname(analysis.file), config.output.runs_dir), analysis.file, config.name);
    } catch (e) {
      // an unreadable runs folder only hides the results lens; the run lenses still work
      ctx.log(`code lens: cannot read runs of ${analysis.file}: ${e instanceof Error ? e.message : String(e)}`);
      latest = undefined;
    }
  }
  const lenses: CodeLens[] = [];
  const run = (range: Range, title: string, args: StartRunParams): CodeLens => ({ range, command: { title, command: ServerCommands.startRun, arguments: [args] } });
  const estimate = await memoryEstimateOf(analysis, ctx);
  throwIfCancelled(token);

  for (const { key, keyRange } of topLevelPairs(tree)) {
    const range = { start: doc.positionAt(keyRange[0]), end: doc.positionAt(keyRange[1]) };
    if ((key === 'model' || key === 'grpo') && estimate) lenses.push({ range, command: { title: formatEstimate(estimate), command: '' } });
    const stage = SECTION_STAGES[key];
    if (!stage) continue;
    lenses.push(run(range, '▶ Run', { uri: doc.uri }));
    const from = stages.filter((s) => STAGE_ORDER.indexOf(s) >= STAGE_ORDER.indexOf(stage));
    const first = from[0] === stages[0];
    if (from.length) lenses.push(run(range, '▶ Run from here', { uri: doc.uri, stages: from, ...(latest && !first ? { resume: latest.runDir } : {}) }));
    if (latest) {
      const result = await resultTitle(latest, stage, ctx);
      if (result) lenses.push({ range, command: { title: result, command: '' } });
    }
  }
  return lenses;
}

async function resultTitle(latest: LatestRun, stage: string, ctx: FeatureContext): Promise<string | undefined> {
  if (stage === 'evaluate') {
    const scores = await ctx.runs.report(latest.runDir);
    if (scores?.length) return formatScores(scores);
  }
  const st = latest.state.stages[stage as keyof typeof latest.state.stages];
  if (!st) return undefined;
  const summary = formatSummary(st.summary);
  return `${st.status}${summary ? ` · ${summary}` : st.message ? ` · ${st.message}` : ''}`;
}
