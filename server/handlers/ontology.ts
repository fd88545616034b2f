/** Custom ontology and estimate requests: ontologyStatus, reloadOntology, lookupTerm, memoryEstimate. */
import { ResponseError } from 'vscode-languageserver';
import { memoryEstimateOf } from '../features/memory';
import * as P from '../protocol';
import { experimentDoc, guarded, type HandlerDeps } from './deps';

export function registerOntology(deps: HandlerDeps, wantSources: (extraDocUri?: string) => Promise<string[]>): void {
  const { connection, ctx } = deps;

  connection.onRequest(P.ontologyStatus, () => guarded(deps, 'ontologyStatus', async () => ctx.ontology.status));

  connection.onRequest(P.reloadOntology, (params) =>
    guarded(deps, 'reloadOntology', async () => {
      const sources = await wantSources(params?.uri);
      ctx.ontology.want(sources);
      return ctx.ontology.reload();
    }),
  );

  connection.onRequest(P.lookupTerm, (params, token) =>
    guarded(deps, 'lookupTerm', async () => {
      if (!params || typeof params.query !== 'string') throw new ResponseError(-32602, 'lookupTerm needs a query string');
      const r = await ctx.ontology.lookup(params.query, { limit: Math.min(Math.max(1, params.limit ?? 20), 200), ...(params.namespaces ? { namespaces: params.namespaces } : {}) }, token);
      return r === 'loading' ? [] : r;
    }),
  );

  connection.onRequest(P.memoryEstimate, (params) =>
    guarded(deps, 'memoryEstimate', async () => {
      const doc = experimentDoc(deps, params?.uri ?? '');
      if (!doc) return null;
      return (await memoryEstimateOf(await ctx.analyzer.analyze(doc), ctx)) ?? null;
    }),
  );
}
