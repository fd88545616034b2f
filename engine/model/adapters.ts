/**
 * Adapter folders written by the LoRA stages: PEFT layout (`default` adapter at the root, others in
 * sub-folders, as PEFT's save_pretrained does) plus `adapters.json`, written last, which names the adapters
 * and marks the folder complete.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { LlamaModel } from './llama';
import { loadLoraAdapter, saveLoraSet, type LoraSet } from './lora';
import { BbioError } from '../util/errors';

export const ADAPTERS_MANIFEST = 'adapters.json';

export async function saveAdapterDir(set: LoraSet, dir: string, opts: { baseModel: string; stage: string }): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  await saveLoraSet(set, dir, { baseModel: opts.baseModel });
  await writeFileAtomic(path.join(dir, ADAPTERS_MANIFEST), JSON.stringify({ adapters: [...set.keys()], stage: opts.stage, format: 'peft-lora' }, null, 2) + '\n');
}

/** Loads every adapter of a folder written by saveAdapterDir (or a plain single-adapter PEFT folder). */
export function loadAdapterDir(model: LlamaModel, dir: string): LoraSet {
  const manifest = path.join(dir, ADAPTERS_MANIFEST);
  let names = ['default'];
  if (fs.existsSync(manifest)) {
    try {
      names = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { adapters: string[] }).adapters;
    } catch (e) {
      throw new BbioError('E_CHECKPOINT', `${manifest} is not valid JSON`, { file: manifest }, 're-run the stage that wrote it', { cause: e });
    }
  }
  const set: LoraSet = new Map();
  for (const n of names) set.set(n, loadLoraAdapter(model, n === 'default' ? dir : path.join(dir, n), n));
  return set;
}
