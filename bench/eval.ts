/**
 * Evaluation benchmark: domain multiple-choice items/s on a bio-tiny-sized model (the quickstart's
 * `model.dims`: vocab 1024, d 128, 4 layers, 4 heads / 2 kv heads, SwiGLU 352, context 256), 4 options per
 * question, contexts of 60–90 tokens and options of 3–7 tokens (the shape of MKGSG domain questions).
 * Compares one forward pass per option (lm-evaluation-harness's way: full logits for each
 * (context, option) row) against the batched scorers: rows of many questions in one pass (scoreLoglik,
 * output projection only at option positions) and the shared-context scorer the suites use (context once,
 * options as one batch from the tiled KV cache). Run standalone: `npx tsx bench/eval.ts [--questions N]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { scoreLoglik, type LoglikRequest } from '../engine/compute/tfjs/loglik';
import { scoreSharedContext } from '../engine/compute/tfjs/loglik-shared';
import { selectBackend, type BackendChoice } from '../engine/model/backend';
import { bioTinyConfig, disposeModel, forwardLogits, initLlama, type LlamaModel } from '../engine/model/llama';
import { silentLogger } from '../engine/util/log';
import { makeRng } from '../engine/util/rng';

interface Question {
  context: number[];
  options: number[][];
}

function questions(n: number, vocab: number, seed: number): Question[] {
  const rng = makeRng(seed);
  return Array.from({ length: n }, () => ({
    context: Array.from({ length: 60 + rng.int(31) }, () => 3 + rng.int(vocab - 3)),
    options: Array.from({ length: 4 }, () => Array.from({ length: 3 + rng.int(5) }, () => 3 + rng.int(vocab - 3))),
  }));
}

/** Baseline: one forward pass per (context, option) row, logits at every position, log-softmax on the host. */
function perOption(model: LlamaModel, qs: readonly Question[]): number[] {
  const V = model.config.vocab_size;
  return qs.flatMap((q) =>
    q.options.map((opt) => {
      const ids = Int32Array.from([...q.context, ...opt].slice(0, -1));
      const logits = tf.tidy(() => forwardLogits(model, ids, 1, { freezeBase: true }).dataSync() as Float32Array); // [T, V]
      let lp = 0;
      opt.forEach((tok, j) => {
        const off = (q.context.length - 1 + j) * V;
        let max = -Infinity;
        for (let i = 0; i < V; i++) max = Math.max(max, logits[off + i]!);
        let z = 0;
        for (let i = 0; i < V; i++) z += Math.exp(logits[off + i]! - max);
        lp += logits[off + tok]! - max - Math.log(z);
      });
      return lp;
    }),
  );
}

function timed<T>(f: () => T): { value: T; seconds: number } {
  const t0 = performance.now();
  const value = f();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

export async function benchEval(opts: { questions?: number; backend?: BackendChoice } = {}): Promise<Record<string, number>> {
  await selectBackend(opts.backend ?? 'wasm', { log: silentLogger });
  const cfg = bioTinyConfig({ vocab_size: 1024, hidden_size: 128, layers: 4, heads: 4, kv_heads: 2, intermediate_size: 352, context_length: 256, tie_embeddings: true, rope_theta: 10000 } as Parameters<typeof bioTinyConfig>[0], { bosId: 0, eosId: 1, padId: 2 });
  const model = initLlama(cfg, makeRng(1));
  try {
    const n = opts.questions ?? 24;
    const warm = questions(2, 1024, 9);
    perOption(model, warm);
    warm.forEach((q) => scoreSharedContext(model, q.context, q.options, { padId: 2 }));
    scoreLoglik(model, warm.flatMap((q) => q.options.map((o) => ({ context: q.context, continuation: o }))), { batchRows: 8, padId: 2 });
    const qs = questions(n, 1024, 7);
    const reqs: LoglikRequest[] = qs.flatMap((q) => q.options.map((o) => ({ context: q.context, continuation: o })));
    const base = timed(() => perOption(model, qs));
    const rows8 = timed(() => scoreLoglik(model, reqs, { batchRows: 8, padId: 2 }));
    const rows32 = timed(() => scoreLoglik(model, reqs, { batchRows: 32, padId: 2 }));
    const shared = timed(() => qs.flatMap((q) => scoreSharedContext(model, q.context, q.options, { padId: 2 })));
    // the scorers must agree with the baseline, or the speed means nothing
    const worst = Math.max(...base.value.map((lp, i) => Math.max(Math.abs(lp - rows8.value[i]!.logprob), Math.abs(lp - shared.value[i]!.logprob))));
    if (worst > 1e-2) throw new Error(`scorers disagree with the per-option baseline by ${worst}`);
    const ips = (s: number): number => n / s;
    return {
      questions: n,
      per_option_items_per_s: ips(base.seconds),
      batched_rows8_items_per_s: ips(rows8.seconds),
      batched_rows32_items_per_s: ips(rows32.seconds),
      shared_context_items_per_s: ips(shared.seconds),
      speedup_shared_vs_per_option: base.seconds / shared.seconds,
      speedup_rows8_vs_per_option: base.seconds / rows8.seconds,
      max_logprob_diff: worst,
    };
  } finally {
    disposeModel(model);
  }
}

if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  benchEval({ ...(arg('--questions') ? { questions: Number(arg('--questions')) } : {}), ...(arg('--backend') ? { backend: arg('--backend') as BackendChoice } : {}) }).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
