/**
 * The base model a model stage starts from (sft, grpo, evaluate and the CLI's eval): its folder and its
 * tokenizer.
 */
import * as fs from 'node:fs';
import path from 'node:path';
import type { StageContext } from '../core/stage';
import { BbioError } from '../util/errors';
import { BpeTokenizer } from './tokenizer';

/** Where the base model comes from: the pretrain output, or the user's checkpoint (`model.path`, relative to the experiment file). */
export function baseModelDir(ctx: StageContext): string {
  return ctx.config.model.path ? path.resolve(path.dirname(ctx.experimentFile), ctx.config.model.path) : ctx.paths.base_model;
}

/** Loads the base model directory's tokenizer (tokenizer.json beside config.json). */
export async function loadTokenizer(dir: string): Promise<BpeTokenizer> {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) throw new BbioError('E_TOKENIZER', `${dir} has no tokenizer.json`, { file }, 'evaluation needs the tokenizer saved with the model');
  return BpeTokenizer.load(file);
}

