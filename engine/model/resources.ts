/**
 * The base model a model stage starts from (sft, grpo, evaluate and the CLI's eval): its folder and its
 * tokenizer.
 */
import * as fs from 'node:fs';
import path from 'node:path';
import type { StageContext } from '../core/stage';
import { modelDirOf } from '../config/paths';
import { BbioError } from '../util/errors';
import { BpeTokenizer } from './tokenizer';

/**
 * Where the base model comes from: the user's checkpoint (`model.path`, relative to the experiment file), the
 * cached snapshot of `model.hub` (the pipeline downloads it before the first stage), or the pretrain output.
 */
export async function baseModelDir(ctx: StageContext): Promise<string> {
  if (!ctx.config.model.path && !ctx.config.model.hub) return ctx.paths.base_model;
  const dir = await modelDirOf(ctx.config, ctx.experimentFile);
  if (dir) return dir;
  const { hub, revision = 'main' } = ctx.config.model;
  throw new BbioError('E_HUB_OFFLINE', `the Hugging Face cache has no ${hub} at ${revision}`, { file: ctx.experimentFile }, 'run the experiment again with network access (the run downloads it first), or unset HF_HUB_OFFLINE');
}

/** Loads the base model directory's tokenizer (tokenizer.json beside config.json). */
export async function loadTokenizer(dir: string): Promise<BpeTokenizer> {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) throw new BbioError('E_TOKENIZER', `${dir} has no tokenizer.json`, { file }, 'evaluation needs the tokenizer saved with the model');
  return BpeTokenizer.load(file);
}

