/**
 * Training checkpoints: trainable tensors + optimizer moments (safetensors) + a JSON state (step, RNG
 * state, data cursor, anything the stage adds). Atomic: everything is written into a temporary folder that
 * is renamed into place, then `latest.json` is replaced atomically, so a crash at any instant leaves the
 * previous checkpoint intact and `latest.json` never points at a half-written folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { readSafetensors, writeSafetensors, type TensorMap } from '../model/safetensors';
import { BbioError } from '../util/errors';

export interface CheckpointData<S = Record<string, unknown>> {
  step: number;
  /** Trainable tensors by name. */
  params: TensorMap;
  /** Optimizer tensors by name (e.g. `m.<param>`, `v.<param>`). */
  optimizer: TensorMap;
  /** JSON-serialisable state: RNG words, data cursor, counters. */
  state: S;
}

const LATEST = 'latest.json';

function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Writes a checkpoint under `dir` and points latest.json at it; keeps the newest `keep` checkpoints. */
export async function saveCheckpoint<S>(dir: string, data: CheckpointData<S>, opts: { keep?: number } = {}): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const name = stepDirName(data.step);
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
  await fs.promises.rm(tmp, { recursive: true, force: true });
  await fs.promises.mkdir(tmp);
  await writeSafetensors(path.join(tmp, 'params.safetensors'), data.params, { format: 'pt' });
  await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), data.optimizer, { format: 'pt' });
  await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify({ step: data.step, state: data.state }) + '\n');
  await fs.promises.rm(final, { recursive: true, force: true });
  await fs.promises.rename(tmp, final);
  await writeFileAtomic(path.join(dir, LATEST), JSON.stringify({ dir: name, step: data.step }) + '\n');
  const keep = opts.keep ?? 2;
  const all = (await fs.promises.readdir(dir)).filter((f) => /^step-\d{8}$/.test(f)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) {
    if (old !== name) await fs.promises.rm(path.join(dir, old), { recursive: true, force: true });
  }
  return final;
}

/** The checkpoint latest.json points at, or null when there is none. */
export function loadLatestCheckpoint<S = Record<string, unknown>>(dir: string): CheckpointData<S> | null {
  const latestFile = path.join(dir, LATEST);
  if (!fs.existsSync(latestFile)) return null;
  let latest: { dir: string; step: number };
  try {
    latest = JSON.parse(fs.readFileSync(latestFile, 'utf8'));
  } catch (e) {
    throw new BbioError('E_CHECKPOINT', `${latestFile} is not valid JSON`, { file: latestFile }, 'delete the checkpoint folder to restart the stage', { cause: e });
  }
  const ck = path.join(dir, latest.dir);
  try {
    const st = JSON.parse(fs.readFileSync(path.join(ck, 'state.json'), 'utf8')) as { step: number; state: S };
    return {
      step: st.step,
      params: readSafetensors(path.join(ck, 'params.safetensors')).tensors,
      optimizer: readSafetensors(path.join(ck, 'optimizer.safetensors')).tensors,
      state: st.state,
    };
  } catch (e) {
    throw new BbioError('E_CHECKPOINT', `checkpoint ${ck} is unreadable`, { file: ck }, 'delete the checkpoint folder to restart the stage', { cause: e });
  }
}
